// authorizer.h - Kubernetes-style RBAC decisions for the Controller API: may this identity (a
// certificate's user and groups) do this verb on this resource in this namespace? Answered from
// the Role, ClusterRole, RoleBinding and ClusterRoleBinding objects in the store, indexed by
// subject and kept current by store watches (drained when a decision is asked for, so a decision
// made after an RBAC write returns sees that write). Group system:admins may do everything; every
// other identity, system:nodes and system:controllers included, only what a binding grants.
// Also the escalation check of RBAC writes: a caller may only grant what it holds itself.
#ifndef HAL_CONTROLLER_RBAC_AUTHORIZER_H
#define HAL_CONTROLLER_RBAC_AUTHORIZER_H

#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "controller/rbac/policy.h"
#include "controller/store/store.h"
#include "controller/tls/peer_identity.h"

namespace hal::controller::rbac {

/** The built-in group whose members may do everything (the single-machine admin's). */
inline constexpr char kAdminsGroup[] = "system:admins";

/** An answer. */
struct Decision {
  bool allowed = false;  ///< True when allowed.
  std::string reason;    ///< Why not, naming the user, verb, resource and namespace ("" allowed).
};

/** RBAC decisions over a store. Thread-safe. */
class Authorizer {
 public:
  /** Decides from the RBAC objects in `store`, which must outlive the authorizer. */
  explicit Authorizer(Store &store);
  ~Authorizer();
  Authorizer(const Authorizer &) = delete;
  Authorizer &operator=(const Authorizer &) = delete;

  /** May `who` make `request`? */
  Decision authorize(const tls::Identity &who, const AccessRequest &request);

  /** The escalation check of writing the RBAC object `object` (validated, defaulted): a Role or
   *  ClusterRole may only hold rules `who` holds itself where it applies (or `who` may escalate
   *  on it); a binding may only grant a role whose rules `who` holds where the binding applies
   *  (or `who` may bind that role). The role a binding names is looked up in `manifest` (the
   *  other objects of the same apply) first, then in the store. Allowed for other kinds. */
  Decision authorize_grant(const tls::Identity &who, const nlohmann::json &object,
                           const std::vector<nlohmann::json> &manifest = {});

  /** The denial message of `request` for `who`: user "bob" (groups devs) cannot create
   *  virtualmachines in namespace "prod" (...). */
  static std::string denial(const tls::Identity &who, const AccessRequest &request);

 private:
  struct Index;
  struct Feed;
  // The index, after taking in the RBAC changes the watches hold.
  std::shared_ptr<const Index> current();
  Decision check_rules(const tls::Identity &who, const std::vector<PolicyRule> &rules,
                       const std::string &ns, const std::string &what);

  Store &store_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<Feed>> feeds_;    ///< One watch per RBAC kind.
  std::map<StoreKey, nlohmann::json> objects_;  ///< The RBAC objects as last seen.
  std::shared_ptr<const Index> index_;          ///< Built from objects_.
};

}  // namespace hal::controller::rbac

#endif  // HAL_CONTROLLER_RBAC_AUTHORIZER_H
