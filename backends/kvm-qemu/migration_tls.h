// migration_tls.h - live migration over mutual TLS for kvm-qemu, with QEMU's own TLS: the
// migration-params "tls" object (backends/common/migration_tls_params.h), the QMP commands that
// give QEMU a tls-creds-x509 object (and an authz-list of accepted source subjects on the target)
// and point the migration parameters at them, and a short-lived copy of the PEM files QEMU can read
// after it dropped to its unprivileged user (the host's directory is owner-only and may sit where
// that user cannot go).
#ifndef HAL_BACKENDS_KVM_QEMU_MIGRATION_TLS_H
#define HAL_BACKENDS_KVM_QEMU_MIGRATION_TLS_H

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "backends/common/migration_tls_params.h"

namespace hal::kvm_qemu {

/** migration-params "tls" (parsed by backend_common::parse_migration_tls). */
using MigrationTls = backend_common::MigrationTlsParams;
using backend_common::parse_migration_tls;

/** QOM id of the tls-creds-x509 object the backend adds for a migration. */
inline constexpr char kMigrationTlsCredsId[] = "hal-migration-tls";
/** QOM id of the authz-list object holding the target's accepted source subjects. */
inline constexpr char kMigrationTlsAuthzId[] = "hal-migration-authz";

/** The object-add arguments of the tls-creds-x509 object reading `staged_dir`: endpoint client
 *  on the source, server on the target, the peer's certificate verified either way. */
nlohmann::json qmp_tls_creds_object(bool source, const std::string &staged_dir);

/** The object-add arguments of the target's authz-list: `peer_subjects` allowed (glob), anything
 *  else denied. */
nlohmann::json qmp_tls_authz_object(const std::vector<std::string> &peer_subjects);

/** The file names QEMU reads from the directory of one endpoint (CA first). */
inline std::vector<std::string> tls_files_for(bool source) {
  return backend_common::migration_tls_files(source);
}

/** A private copy of the PEM files one endpoint needs (tls_files_for) in a fresh directory under
 *  `parent`, readable by user `owner` alone ("" = the caller; else chowned to that user, which
 *  needs the caller to be root). Removed with its files by the destructor: QEMU reads the files
 *  once, when the tls-creds object is added. */
class StagedTlsDir {
 public:
  /** Copies the files from `tls.dir`. Throws hal::plugin::Failure: INVALID_ARGUMENT naming
   *  params.tls.dir and the file that is missing or unreadable, UNAVAILABLE when the copy cannot
   *  be made. */
  StagedTlsDir(const MigrationTls &tls, bool source, const std::filesystem::path &parent,
               const std::string &owner);
  /** Removes the directory. */
  ~StagedTlsDir();
  StagedTlsDir(const StagedTlsDir &) = delete;
  StagedTlsDir &operator=(const StagedTlsDir &) = delete;

  /** The directory to give QEMU. */
  const std::filesystem::path &path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace hal::kvm_qemu

#endif  // HAL_BACKENDS_KVM_QEMU_MIGRATION_TLS_H
