// mock_config.h - the mock backend's open() configuration: parsing and defaults.
#ifndef HAL_BACKENDS_MOCK_MOCK_CONFIG_H
#define HAL_BACKENDS_MOCK_MOCK_CONFIG_H

#include <cstdint>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>

namespace hal::mock {

/** Faults the mock injects, from config "faults". */
struct Faults {
  /** VM names whose start always fails (HAL_UNAVAILABLE, VM ends CRASHED). */
  std::set<std::string> fail_start;
  /** The first N starts of this backend instance fail. */
  int64_t fail_start_count = 0;
  /** Guest crashes this many ms after each start (0 = never). */
  int64_t crash_after_ms = 0;
  /** "" | "stall" | "fail": what happens to outgoing migrations. */
  std::string migration;
  /** Every VM-level call and vm_create sleeps this long first. */
  int64_t slow_calls_ms = 0;
  /** The guest ignores ACPI power-off requests. */
  bool ignore_acpi = false;
};

/** The parsed configuration of one open(). */
struct Config {
  /** Name of the process-wide in-memory store used when state_dir is empty. */
  std::string instance = "default";
  /** Directory where VMs are persisted as JSON files (re-adopted by a later open()). */
  std::string state_dir;
  /** Whether the fake host supports TDX. */
  bool tdx = false;
  /** The machine type a VM whose spec names none is pinned to ("": none, as before). */
  std::string machine;
  /** The host info document (defaults: a fake 2-node host, overridden by config "host"). */
  nlohmann::json host;
  /** Injected faults. */
  Faults faults;
  /** Simulated migration bandwidth (MiB/s) when migration_send does not set one. */
  double bandwidth_mib_per_s = 3500;
  /** How long the guest takes to power off after an ACPI request. */
  int64_t acpi_shutdown_ms = 20;
  /** Most VMs one store holds. */
  int64_t max_vms = 200000;
};

/** Bytes of a quantity: a JSON integer, or a string hal::parse_quantity reads ("512Mi", "1Gi",
 *  "2G", "1073741824"); 0 when malformed. */
uint64_t parse_quantity(const nlohmann::json &value);

/** Parses `config_json`; throws hal::plugin::Failure(INVALID_ARGUMENT) naming the bad key. */
Config parse_config(std::string_view config_json);

}  // namespace hal::mock

#endif  // HAL_BACKENDS_MOCK_MOCK_CONFIG_H
