// migration_pair.h - what the migration clauses share: the two backend instances a migration
// drives (the source on the main config, the target on the target config), each with an event
// log and VM cleanup, the downtime they ask for, and what counts as a finished migration.
#ifndef HAL_CONFORMANCE_MIGRATION_PAIR_H
#define HAL_CONFORMANCE_MIGRATION_PAIR_H

#include <cstdint>
#include <string>

#include "suite.h"

namespace hal::conformance {

/** The maxDowntimeMs every migration clause asks for. */
inline constexpr int64_t kMaxDowntimeMs = 500;

/** True for a progress status that ends a migration: completed, failed or cancelled. */
inline bool final_status(const std::string &status) {
  return status == "completed" || status == "failed" || status == "cancelled";
}

/** Source and target instances with event logs and cleanup (declared in destruction order: the
 *  cleanups run before the logs and backends go). */
struct MigrationPair {
  Backend src = suite().open();         ///< The source instance.
  Backend dst = suite().open_target();  ///< The target instance.
  EventLog src_log{src};                ///< Events of the source.
  EventLog dst_log{dst};                ///< Events of the target.
  Cleanup src_clean{src};               ///< VMs to remove from the source.
  Cleanup dst_clean{dst};               ///< VMs to remove from the target.
};

}  // namespace hal::conformance

#endif  // HAL_CONFORMANCE_MIGRATION_PAIR_H
