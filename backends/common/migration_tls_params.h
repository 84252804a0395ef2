// migration_tls_params.h - migration-params "tls" (hal.h, MIGRATION TLS) as every backend that
// declares features.migrationTls reads it: the directory of PEM files in QEMU's tls-creds-x509
// layout, the name the target's certificate must carry, the subjects a target accepts.
#ifndef HAL_BACKENDS_COMMON_MIGRATION_TLS_PARAMS_H
#define HAL_BACKENDS_COMMON_MIGRATION_TLS_PARAMS_H

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace hal::backend_common {

/** migration-params "tls": where the PEM files are and whom to accept. */
struct MigrationTlsParams {
  /** Directory with ca-cert.pem, server-cert.pem/-key.pem and client-cert.pem/-key.pem. */
  std::string dir;
  /** Source: the name the target's certificate must carry ("" = the uri's host). */
  std::string hostname;
  /** Target: glob patterns over the source certificate's subject ("O=...,CN=...", in
   *  certificate order); empty: any certificate signed by the CA. */
  std::vector<std::string> peer_subjects;
};

/** Parses params.tls. Throws hal::plugin::Failure(HAL_INVALID_ARGUMENT) naming the field
 *  ("migration params.tls.dir: required"). */
MigrationTlsParams parse_migration_tls(const nlohmann::json &tls);

/** The file names one endpoint reads from the directory: the CA, then its certificate and key
 *  (client-* on the source, server-* on the target). */
std::vector<std::string> migration_tls_files(bool source);

}  // namespace hal::backend_common

#endif  // HAL_BACKENDS_COMMON_MIGRATION_TLS_PARAMS_H
