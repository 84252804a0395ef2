// migration_pair.h - the two backend instances a migration clause drives: the source (the main
// config) and the target (the target config), each with an event log and VM cleanup.
#ifndef HAL_CONFORMANCE_MIGRATION_PAIR_H
#define HAL_CONFORMANCE_MIGRATION_PAIR_H

#include "suite.h"

namespace hal::conformance {

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
