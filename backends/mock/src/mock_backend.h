// mock_backend.h - the in-memory mock hypervisor backend: hal::plugin classes implementing the
// whole HAL ABI (lifecycle, simulated guest, NUMA/TDX checks, loopback TCP live migration,
// fault injection, re-adoption). libhal-mock.so wraps them with HAL_DEFINE_PLUGIN.
//
// Documented choices where hal.h leaves room:
//   - A failed start (faults.failStart*) leaves the VM CRASHED and returns HAL_UNAVAILABLE.
//   - vm_reset keeps a PAUSED VM PAUSED; vm_force_stop of a CRASHED or INCOMING VM -> STOPPED;
//     of a MIGRATED VM -> FAILED_PRECONDITION (it runs elsewhere; delete it).
//   - vm_shutdown that times out with HAL_SHUTDOWN_NO_FORCE leaves the VM SHUTTING_DOWN (the
//     guest still runs); a PAUSED guest cannot see ACPI, so it behaves like ignoreAcpi.
//   - A failed or cancelled migration leaves the source as it was and the target STOPPED (the
//     host deletes it); the target reports the same in its migration progress.
//   - close with both HAL_CLOSE_KEEP_VMS and HAL_CLOSE_STOP_VMS -> HAL_INVALID_ARGUMENT.
//   - Events: state changes emit HAL_EVENT_STATE_CHANGED with {"reason":...}; crash emits
//     HAL_EVENT_GUEST_CRASHED then STATE_CHANGED; reboot/reset emit HAL_EVENT_GUEST_REBOOTED.
//     Events are delivered in order per backend, never while a VM lock is held.
#ifndef HAL_BACKENDS_MOCK_MOCK_BACKEND_H
#define HAL_BACKENDS_MOCK_MOCK_BACKEND_H

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "hal/plugin.hpp"
#include "mock_config.h"
#include "mock_store.h"

namespace hal::backend_common {
class TlsRelay;
}

namespace hal::mock {

class MockVm;

/** An event waiting to be delivered once the VM lock is dropped. */
struct PendingEvent {
  hal_event_type type;
  hal_vm_state state;
  nlohmann::json detail;
};

/** What vm_create needs from a spec, checked against the configured host. */
struct CheckedSpec {
  std::string id;
  std::string compact;
  uint64_t memory_bytes = 0;
  bool tdx = false;
};

/** Runs callbacks at deadlines on one thread; stop() drops what is pending and joins. */
class Timers {
 public:
  ~Timers() { stop(); }
  /** Runs `fn` on the timer thread after `delay_ms`. */
  void after(int64_t delay_ms, std::function<void()> fn);
  /** Stops the thread; pending callbacks never run. */
  void stop();

 private:
  void loop();
  std::mutex mu_;
  std::condition_variable cv_;
  std::multimap<std::chrono::steady_clock::time_point, std::function<void()>> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

/** One open() of the mock backend. */
class MockBackend : public plugin::Backend {
 public:
  /** open(): parses the config (INVALID_ARGUMENT naming the key) and attaches the store. */
  MockBackend(std::string_view config_json, plugin::EventSink events);
  ~MockBackend() override;

  void close(uint32_t flags) override;
  std::string capabilities() override;
  std::string host_info() override;
  std::unique_ptr<plugin::Vm> create_vm(std::string_view spec_json, uint32_t flags) override;
  std::unique_ptr<plugin::Vm> lookup_vm(std::string_view vm_id) override;
  std::string list_vms() override;
  std::unique_ptr<plugin::Vm> prepare_incoming(std::string_view spec_json,
                                               std::string_view params_json,
                                               std::string &out_endpoint_json) override;

  // ---- used by MockVm and the migration workers ----
  /** The parsed configuration. */
  const Config &config() const { return config_; }
  /** The store holding this instance's VMs. */
  Store &store() { return *store_; }
  /** Sleeps faults.slowCallsMs. */
  void slow() const;
  /** Checks a spec against the mock's limits and the configured host. */
  CheckedSpec check_spec(std::string_view spec_json, const char *op) const;
  /** Sets the VM's state and persists it; adds a STATE_CHANGED event to `events`. */
  void set_state(VmRecord &record, hal_vm_state state, const std::string &reason,
                 std::vector<PendingEvent> &events);
  /** Delivers `events` of VM `id` in order: takes the event lock, then unlocks `vm_lock`. */
  void deliver(std::unique_lock<std::mutex> &vm_lock, const std::string &id,
               std::vector<PendingEvent> &events);
  /** True when this start must fail (faults.failStart / failStartCount). */
  bool take_start_fault(const std::string &id);
  /** Arms the crash fault (faults.crashAfterMs) for the VM's current generation. */
  void arm_crash(const std::shared_ptr<VmRecord> &record);
  /** Arms the crash fault again for every running, paused or shutting-down VM of the store
   *  (at open, for re-adopted guests), with what is left of it: crashAfterMs less the guest's
   *  running time since its last start. */
  void rearm_crashes();
  /** The guest of generation `generation` crashes after `delay_ms` if it still runs then. */
  void arm_crash_after(const std::shared_ptr<VmRecord> &record, uint64_t generation,
                       int64_t delay_ms);
  /** The guest powers off (ACPI) after `delay_ms` if still SHUTTING_DOWN in this generation. */
  void arm_acpi_power_off(const std::shared_ptr<VmRecord> &record, int64_t delay_ms);
  /** Runs `fn` on a worker thread joined at close. */
  void spawn(std::function<void()> fn);
  /** Registers a migration so close() can cancel it. */
  void track(const std::shared_ptr<MigrationJob> &job);
  /** Counts live VM handles (close refuses while any exists). */
  std::atomic<int> handles{0};

 private:
  void stop_workers();

  Config config_;
  plugin::EventSink events_;
  std::shared_ptr<Store> store_;
  std::mutex event_mu_;
  std::atomic<int64_t> fail_start_left_;
  Timers timers_;
  std::mutex workers_mu_;
  std::vector<std::thread> workers_;
  std::vector<std::weak_ptr<MigrationJob>> jobs_;
  bool closed_ = false;
};

/** One hal_vm handle. */
class MockVm : public plugin::Vm {
 public:
  MockVm(MockBackend &backend, std::shared_ptr<VmRecord> record);
  ~MockVm() override;

  void start(uint32_t flags) override;
  void force_stop() override;
  void remove(uint32_t flags) override;
  hal_vm_state state() override;
  std::string info() override;
  void pause() override;
  void resume() override;
  void shutdown(uint32_t timeout_ms, uint32_t flags) override;
  void reboot() override;
  void reset() override;
  void migration_send(std::string_view params_json) override;
  std::string migration_progress() override;
  void migration_cancel() override;

 private:
  std::unique_lock<std::mutex> lock_alive(const char *op);
  void guest_reboot(const char *op, bool allow_paused);

  MockBackend &backend_;
  std::shared_ptr<VmRecord> record_;
};

/** Builds the vm_get_info document; the caller holds record.mu. */
nlohmann::json vm_info(const VmRecord &record, const Config &config);

/** Migration workers (mock_migration.cc). */
void run_outgoing(MockBackend &backend, std::shared_ptr<VmRecord> record,
                  std::shared_ptr<MigrationJob> job, nlohmann::json params,
                  std::shared_ptr<backend_common::TlsRelay> relay);

}  // namespace hal::mock

#endif  // HAL_BACKENDS_MOCK_MOCK_BACKEND_H
