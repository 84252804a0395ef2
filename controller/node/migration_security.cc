// migration_security.cc - migration-params "tls" from the node's credentials (see
// migration_security.h).
#include "controller/node/migration_security.h"

#include "controller/pki/pki.h"
#include "core/log/log.h"
#include "hal/host.hpp"

namespace hal::node {

std::string node_subject_pattern() {
  // The PKI writes O before CN (certificate order), as QEMU and the TLS relay print subjects.
  return std::string("O=") + pki::kNodesGroup + ",CN=" + pki::kNodeUserPrefix + "*";
}

MigrationSecurity::MigrationSecurity(tls::TlsOptions tls, std::filesystem::path dir,
                                     std::set<std::string> tls_backends, bool allow_clear)
    : tls_(std::move(tls)),
      dir_(std::move(dir)),
      tls_backends_(std::move(tls_backends)),
      allow_clear_(allow_clear) {}

void MigrationSecurity::lay_out() {
  try {
    const std::string ca = pki::read_file(tls_.ca_file, "TLS CA");
    const std::string cert = pki::read_file(tls_.cert_file, "TLS certificate");
    const std::string key = pki::read_file(tls_.key_file, "TLS key");
    // The node is the target (server) of some migrations and the source (client) of others.
    pki::write_tls_creds_dir(dir_, ca, cert, key);
  } catch (const std::exception &e) {
    throw Error(HAL_UNAVAILABLE, std::string("migration TLS: ") + e.what());
  }
}

void MigrationSecurity::apply(nlohmann::json &params, const std::string &backend, bool source) {
  if (params.contains("tls"))
    throw Error(HAL_INVALID_ARGUMENT,
                "params_json.tls: chosen by the node agent from its own credentials, not by "
                "the caller");
  if (!enabled()) return;
  if (!tls_backends_.count(backend)) {
    if (!allow_clear_)
      throw Error(HAL_FAILED_PRECONDITION,
                  "backend " + backend +
                      " cannot carry a migration over TLS (no features.migrationTls) and this "
                      "node does not migrate in clear (hal-node --allow-insecure-migration)");
    hal::log("node")->warn(
        "migrating a VM of backend {} in clear text: it cannot use TLS and "
        "--allow-insecure-migration is set",
        backend);
    return;
  }
  std::lock_guard lock(mutex_);
  lay_out();
  nlohmann::json tls = {{"dir", dir_.string()}};
  if (!source) tls["peerSubjects"] = {node_subject_pattern()};
  params["tls"] = std::move(tls);
}

}  // namespace hal::node
