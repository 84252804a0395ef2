// migration.h - pure helpers for live migration: HAL migration parameters (with the spec's
// policy as fallback), the QMP commands that prepare either side (capabilities, parameters, TLS
// objects), and query-migrate -> HAL progress.
#ifndef HAL_BACKENDS_KVM_QEMU_MIGRATION_H
#define HAL_BACKENDS_KVM_QEMU_MIGRATION_H

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backends/kvm-qemu/migration_tls.h"
#include "core/spec/vm_spec.h"

namespace hal::kvm_qemu {

/** Effective parameters of one migration. */
struct MigrationParams {
  /** "tcp:HOST:PORT" or "unix:PATH"; may be empty for prepare_incoming. */
  std::string uri;
  uint32_t max_downtime_ms = 300;
  /** 0 = unlimited. */
  uint32_t bandwidth_mibps = 0;
  bool auto_converge = true;
  bool post_copy = false;
  /** 0 = multifd off. */
  uint32_t multifd_channels = 0;
  /** 0 = no timeout. */
  uint64_t timeout_ms = 0;
  /** Set: the stream goes over mutual TLS (migration_tls.h). */
  std::optional<MigrationTls> tls;
};

/** One QMP command of a sequence. */
struct QmpCommand {
  std::string name;          ///< e.g. "migrate-set-parameters".
  nlohmann::json arguments;  ///< Its arguments (null: none).
  bool may_fail = false;     ///< An error reply is expected at times and ignored.
};

/** Parses migration-params JSON (empty text = {}), falling back to `policy` for absent fields.
 *  Throws hal::plugin::Failure(HAL_INVALID_ARGUMENT) naming the bad field. */
MigrationParams parse_migration_params(std::string_view json_text, const MigrationPolicy &policy);

/** The migrate-set-capabilities argument for these parameters (events always on). */
nlohmann::json qmp_capabilities_for(const MigrationParams &params, bool source);

/** The migrate-set-parameters argument for these parameters (source side). The TLS parameters
 *  are always set: to the TLS objects with params.tls, else to "" (clear text, also after an
 *  earlier migration of this QEMU used TLS). */
nlohmann::json qmp_parameters_for(const MigrationParams &params);

/** Everything QEMU is told before `migrate` (source) or `migrate-incoming` (target), in order.
 *  With params.tls: the source first deletes TLS objects an earlier migration may have left
 *  (may_fail), then adds the tls-creds-x509 object reading `tls_dir` (the target also the
 *  authz-list of peerSubjects), then sets capabilities and parameters pointing at them. */
std::vector<QmpCommand> qmp_migration_setup(const MigrationParams &params, bool source,
                                            const std::string &tls_dir);

/** Maps a QEMU MigrationStatus to the HAL progress status enum. */
std::string hal_migration_status(const std::string &qemu_status);

/** True for completed / failed / cancelled. */
bool is_terminal_status(const std::string &hal_status);

/** Converts a query-migrate reply into a migration-progress document. */
nlohmann::json progress_from_query_migrate(const nlohmann::json &reply);

}  // namespace hal::kvm_qemu

#endif  // HAL_BACKENDS_KVM_QEMU_MIGRATION_H
