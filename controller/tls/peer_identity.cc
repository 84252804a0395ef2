// peer_identity.cc - the caller's identity from gRPC's auth context (see peer_identity.h).
#include "controller/tls/peer_identity.h"

#include <grpc/grpc_security_constants.h>

#include <algorithm>
#include <mutex>
#include <unordered_map>

#include "controller/pki/certificate.h"

namespace hal::tls {

bool Identity::in_group(const std::string &group) const {
  return std::find(groups.begin(), groups.end(), group) != groups.end();
}

std::string Identity::describe() const {
  std::string text = "user '" + user + "'";
  if (groups.empty()) return text + " (no groups)";
  text += " (groups ";
  for (size_t i = 0; i < groups.size(); ++i) text += (i == 0 ? "" : ", ") + groups[i];
  return text + ")";
}

Identity identity_of_certificate(const std::string &pem) {
  pki::CertificateInfo info = pki::inspect_certificate(pem);
  return Identity{info.common_name, info.organizations};
}

namespace {

// Reading a certificate costs OpenSSL hundreds of microseconds (more than the rest of a call),
// and a client presents the same one on every call: identities are remembered by certificate.
// A certificate's subject never changes; gRPC verified it (and its validity) in the handshake.
Identity remembered_identity(std::string pem) {
  static std::mutex mutex;
  static std::unordered_map<std::string, Identity> identities;
  {
    std::lock_guard lock(mutex);
    if (auto it = identities.find(pem); it != identities.end()) return it->second;
  }
  Identity identity = identity_of_certificate(pem);
  std::lock_guard lock(mutex);
  if (identities.size() >= 1024) identities.clear();  // Bounded: many clients, or churn.
  identities.emplace(std::move(pem), identity);
  return identity;
}

}  // namespace

std::optional<Identity> peer_identity(const grpc::ServerContextBase &context) {
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (!auth || !auth->IsPeerAuthenticated()) return std::nullopt;
  // The PEM of the certificate gRPC verified; its subject is parsed by OpenSSL rather than
  // from gRPC's one-line subject text, so O values with commas or escapes read correctly.
  std::vector<grpc::string_ref> pem = auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
  if (pem.empty()) return std::nullopt;
  try {
    return remembered_identity(std::string(pem.front().data(), pem.front().size()));
  } catch (const std::exception &) {
    return std::nullopt;
  }
}

}  // namespace hal::tls
