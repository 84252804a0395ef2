// ch_version.h - Cloud Hypervisor release numbers and what each release does differently, as read
// from upstream's source at the tags v45.0 to v53.0: the backend adapts its requests and how it
// decides a migration's outcome to the version the binary reports in vmm.ping, and refuses
// binaries older than the oldest release it supports.
#ifndef HAL_BACKENDS_CLOUD_HYPERVISOR_CH_VERSION_H
#define HAL_BACKENDS_CLOUD_HYPERVISOR_CH_VERSION_H

#include <compare>
#include <optional>
#include <string>
#include <string_view>

namespace hal::cloud_hypervisor {

/** A Cloud Hypervisor release: major.minor (upstream numbers releases v45.0, v50.2, ...). */
struct ChVersion {
  /** Major release number (53 for v53.0). */
  int major = 0;
  /** Minor (point) release number. */
  int minor = 0;
  /** Ordered by (major, minor). */
  auto operator<=>(const ChVersion &) const = default;
  /** "v53.0". */
  std::string str() const;
};

/** The oldest release this backend drives. */
inline constexpr ChVersion kOldestSupported{45, 0};

/** Parses vmm.ping's "version" (the crate version, "53.0.0") or, failing that, its
 *  "build_version" (git describe plus an optional suffix: "v53.0", "v53.0-12-gabcdef-dirty",
 *  "v53.0-hal-ch-emulator"); nullopt when neither holds a version number. */
std::optional<ChVersion> parse_ch_version(std::string_view version,
                                          std::string_view build_version = {});

/** vm.send-migration takes downtime_ms, timeout_s and timeout_strategy (v52.0 on; older
 *  releases silently ignore the fields, so the backend refuses maxDowntimeMs/timeoutMs there). */
inline bool has_migration_limits(ChVersion v) {
  return v >= ChVersion{52, 0};
}
/** The event monitor reports vm/migration-started, -finished and -failed (v52.0 on). */
inline bool has_migration_events(ChVersion v) {
  return v >= ChVersion{52, 0};
}
/** vm.send-migration answers 204 as soon as the migration starts, and its outcome comes only as
 *  vm/migration-finished / vm/migration-failed events (v53.0 on); before, the 204 meant done. */
inline bool send_migration_is_async(ChVersion v) {
  return v >= ChVersion{53, 0};
}

}  // namespace hal::cloud_hypervisor

#endif  // HAL_BACKENDS_CLOUD_HYPERVISOR_CH_VERSION_H
