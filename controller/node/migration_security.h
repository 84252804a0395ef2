// migration_security.h - how hal-node protects the live migrations it takes part in. With TLS on
// (the default) every migration gets migration-params "tls": a directory in QEMU's
// tls-creds-x509 layout laid out from the node's own CA, certificate and key (owner-only, the
// files rewritten before each migration so a renewed certificate is used), on the target the
// accepted sources (node certificates only), on the source nothing more (the target's
// certificate must name the endpoint's host). A backend that does not declare
// features.migrationTls is refused, unless the operator allowed clear-text migration for such
// backends (--allow-insecure-migration), which is then logged. With --insecure nothing changes.
#ifndef HAL_CONTROLLER_NODE_MIGRATION_SECURITY_H
#define HAL_CONTROLLER_NODE_MIGRATION_SECURITY_H

#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "controller/tls/tls_options.h"

namespace hal::node {

/** The subject pattern (QEMU's form, certificate order) a migration target accepts: any node. */
std::string node_subject_pattern();

/** Adds migration-params "tls" to the migrations of one node. Thread-safe. */
class MigrationSecurity {
 public:
  /** Off (no TLS): params pass unchanged (apart from a caller's "tls", always refused). */
  MigrationSecurity() = default;
  /** For a node with `tls` (enabled()), laying its files out in `dir` (created 0700 when
   *  needed), for backends `tls_backends` (those declaring features.migrationTls). With
   *  `allow_clear`, a migration through another backend goes in clear instead of being
   *  refused. */
  MigrationSecurity(tls::TlsOptions tls, std::filesystem::path dir,
                    std::set<std::string> tls_backends, bool allow_clear);

  /** True when the node's migrations are meant to be protected (the node runs TLS). */
  bool enabled() const { return tls_.enabled(); }
  /** The directory handed to backends. */
  const std::filesystem::path &dir() const { return dir_; }

  /** Fills params["tls"] for a migration of backend `backend` on the `source` or target side.
   *  Throws hal::Error: INVALID_ARGUMENT when `params` already has "tls" (only the node chooses
   *  its files), FAILED_PRECONDITION naming the backend when it cannot use TLS and clear text
   *  was not allowed, UNAVAILABLE when the node's files cannot be read or laid out. */
  void apply(nlohmann::json &params, const std::string &backend, bool source);

 private:
  // Rewrites the directory from the node's files (under mutex_).
  void lay_out();

  tls::TlsOptions tls_;
  std::filesystem::path dir_;
  std::set<std::string> tls_backends_;
  bool allow_clear_ = false;
  std::mutex mutex_;
};

}  // namespace hal::node

#endif  // HAL_CONTROLLER_NODE_MIGRATION_SECURITY_H
