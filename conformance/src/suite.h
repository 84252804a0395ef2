// suite.h - what every clause body shares: the loaded plugin, the backend configuration, the spec
// template, the declared capabilities, and helpers (spec building, waiting for states, event
// logs, status capture, raw C-ABI access for bad-argument tests).
#ifndef HAL_CONFORMANCE_SUITE_H
#define HAL_CONFORMANCE_SUITE_H

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/plugin/backend.h"
#include "core/plugin/plugin.h"
#include "hal/hal.h"
#include "testing/event_log.h"
#include "traced_table.h"

namespace hal::conformance {

/** Everything the clauses need, set up once by main before the tests run. */
struct Suite {
  std::shared_ptr<const Plugin> plugin;                     ///< The plugin under test.
  nlohmann::json config = nlohmann::json::object();         ///< Backend config (--config).
  nlohmann::json target_config = nlohmann::json::object();  ///< Migration target's config.
  nlohmann::json spec_template = nlohmann::json::object();  ///< Merged into every spec.
  nlohmann::json capabilities;                              ///< get_capabilities of a first open.
  nlohmann::json host_info;                                 ///< get_host_info of a first open.
  std::chrono::milliseconds wait{30000};                    ///< Longest wait for a state/event.
  std::string run_id;  ///< Short random tag making VM names unique.

  /** True when the capabilities declare operation `entry` (snake_case table name, or its
   *  camelCase form as plugin.hpp writes it). */
  bool declares_operation(std::string_view entry) const;
  /** True when capabilities.features[`name`] is true. */
  bool declares_feature(std::string_view name) const;
  /** Whether `capability` ("operations.X" / "features.Y") is declared present. */
  bool declares(std::string_view capability) const;
  /** A fresh VM name: "c-<run>-<tag>-<n>" (DNS-1123, <= 63 chars). */
  std::string vm_name(std::string_view tag);
  /** A spec named `name`: the suite's minimal default (1 vCPU, 256Mi), the spec template merged
   *  over it (e.g. boot.kernel, a larger memory), then the clause's `overrides` over both. */
  nlohmann::json spec(const std::string &name,
                      const nlohmann::json &overrides = nlohmann::json::object()) const;
  /** Opens a backend instance with the main config. */
  Backend open() const;
  /** Opens the migration target instance. */
  Backend open_target() const;
  /** Ids of host CPUs (host_info.onlineCpus, or 0..cpus-1). */
  std::vector<int> host_cpus() const;
  /** Host NUMA nodes from host_info: id -> cpus. */
  std::vector<std::pair<int, std::vector<int>>> host_nodes() const;
  /** True when TDX is supported according to host_info. */
  bool host_tdx() const;

 private:
  std::mutex mu_;
  int counter_ = 0;
};

/** The process-wide suite. */
Suite &suite();

/** Deep-merges `patch` into `target`: objects recursively, other values replace. */
void merge_into(nlohmann::json &target, const nlohmann::json &patch);
/** Deep-merges `base` under `target`: keys already in `target` win. */
void merge_under(nlohmann::json &target, const nlohmann::json &base);

/** Result of an operation expected to fail or succeed: status and message. */
struct Outcome {
  hal_status status = HAL_OK;  ///< HAL_OK or the error's status.
  std::string message;         ///< The error message ("" on OK).
  /** "OK" or "STATUS: message". */
  std::string str() const;
};

/** Runs `fn`, catching hal::Error (and any std::exception as HAL_INTERNAL). */
Outcome outcome_of(const std::function<void()> &fn);

/** Polls `vm.state()` until it is `want` or `timeout` passes; answers the last state seen. */
hal_vm_state wait_state(const Vm &vm, hal_vm_state want, std::chrono::milliseconds timeout);

/** JSON state name ("Running") of a hal_vm_state. */
std::string state_name(hal_vm_state state);

/** Records every event of one backend instance and lets tests wait for them (the tree's one
 *  event recorder). */
using EventLog = hal::testing::EventLog;

/** Force-stops and deletes VMs by id when it goes out of scope (test cleanup). */
class Cleanup {
 public:
  /** Cleans VMs of `backend`. */
  explicit Cleanup(Backend &backend) : backend_(&backend) {}
  ~Cleanup();
  Cleanup(const Cleanup &) = delete;
  Cleanup &operator=(const Cleanup &) = delete;
  /** Adds a VM id to remove at the end. */
  void add(const std::string &id) { ids_.push_back(id); }

 private:
  Backend *backend_;
  std::vector<std::string> ids_;
};

/** Creates a VM named after `tag` (STOPPED) from the suite's spec with `overrides` and registers
 *  it with `cleanup`. */
Vm create_vm(Backend &backend, Cleanup &cleanup, const std::string &tag,
             const nlohmann::json &overrides = nlohmann::json::object(), uint32_t flags = 0);

/** create_vm and vm_start, expecting RUNNING (a failed expectation, not an abort). */
Vm running_vm(Backend &backend, Cleanup &cleanup, const std::string &tag);

/** A backend opened straight through the C table (no host-side checks), for bad-argument,
 *  unknown-flag and invalid-spec clauses that must reach the plugin itself. */
class RawBackend {
 public:
  /** Opens with `config` (table->open). Fails the test (ADD_FAILURE) when open fails. */
  explicit RawBackend(const nlohmann::json &config);
  ~RawBackend();
  RawBackend(const RawBackend &) = delete;
  RawBackend &operator=(const RawBackend &) = delete;

  /** The table, each entry traced (traced_table.h). */
  const hal_backend_table &table() const { return traced_table(); }
  /** The handle (nullptr when open failed). */
  hal_backend *get() const { return backend_; }
  /** vm_create of raw text; answers status and message, stores the handle (if any) in *out. */
  Outcome create(const char *spec_json, uint32_t flags, hal_vm **out);
  /** vm_lookup; nullptr when absent. */
  hal_vm *lookup(const std::string &id);
  /** Force-stops, deletes and releases VM `id` if it exists. */
  void remove(const std::string &id);
  /** vm_list as JSON ({} when it fails). */
  nlohmann::json list();
  /** Releases `vm` (vm_release). */
  void release(hal_vm *vm);

 private:
  hal_backend *backend_ = nullptr;
};

/** Force-stops and deletes every VM of this run (ids starting "c-<run_id>-") on the main and the
 *  target instance: what a clause process that crashed or was killed left behind. Answers how
 *  many it removed. */
int remove_run_vms();

/** True when `list` ({"vms":[...]}) holds a VM with id `id`. */
bool list_has(const nlohmann::json &list, const std::string &id);

/** Sleeps `ms` milliseconds. */
void sleep_ms(int64_t ms);

}  // namespace hal::conformance

#endif  // HAL_CONFORMANCE_SUITE_H
