// plugin_fixture.h - the cloud-hypervisor plugin driven through its C table against VMMs (the
// emulator, at the Cloud Hypervisor release a test chooses, or a real binary): per-test state
// dirs whose VMMs are killed by their pidfiles at teardown, an event recorder that can look at
// the world at the moment an event is emitted, and small call helpers.
#ifndef HAL_BACKENDS_CLOUD_HYPERVISOR_TESTS_PLUGIN_FIXTURE_H
#define HAL_BACKENDS_CLOUD_HYPERVISOR_TESTS_PLUGIN_FIXTURE_H

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "hal/hal.h"
#include "testing/temp_dir.h"

namespace hal::cloud_hypervisor::testing {

/** One event as the plugin delivered it. */
struct RecordedEvent {
  hal_event_type type = 0;
  std::string vm_id;
  hal_vm_state state = HAL_VM_STATE_UNKNOWN;
  nlohmann::json detail;
  /** What the recorder's hook answered when the event arrived (see Recorder::hook). */
  std::string observed;
};

/** Every event of one backend instance. Thread-safe. */
class Recorder {
 public:
  /** The hal_event_fn to register at open; `user` is the Recorder. */
  static void callback(void *user, const hal_event *event);
  /** Runs on the plugin's thread while an event is delivered, before the plugin goes on; its
   *  answer is kept in RecordedEvent::observed. */
  std::function<std::string(const hal_event &)> hook;
  /** Waits for an event of `vm_id` matching `pred`; nullopt after `timeout`. */
  std::optional<RecordedEvent> wait_for(const std::string &vm_id,
                                        const std::function<bool(const RecordedEvent &)> &pred,
                                        std::chrono::milliseconds timeout);
  /** The STATE_CHANGED states of `vm_id`, in order. */
  std::vector<hal_vm_state> states(const std::string &vm_id) const;
  /** Every event of `vm_id` as text, for failure messages. */
  std::string describe(const std::string &vm_id) const;

 private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<RecordedEvent> events_;
};

/** A test of the plugin: temp state dirs, opened backends and VM handles, all released (and the
 *  VMMs under the dirs killed by pid) at teardown. */
class ChPluginTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  /** Switches the test to the real cloud-hypervisor and its test guest (tests/real_binary.h);
   *  false (the caller then skips, with `why`) when there is none here. */
  bool use_real_binary(std::string *why);
  /** True after use_real_binary(). */
  bool real() const { return !guest_dir_.empty(); }
  /** Makes the emulator behave as Cloud Hypervisor `release` ("53.0.0") from now on. */
  static void emulate_release(const std::string &release);
  /** The plugin's table. */
  const hal_backend_table &table() const { return *table_; }
  /** Opens a backend with its state under <tmp>/<name>; nullptr (and the error in `error`)
   *  when open fails. */
  hal_backend *open(const std::string &name, Recorder &events, std::string *error = nullptr);
  /** The state dir root of backend `name`. */
  std::filesystem::path state_root(const std::string &name) const { return tmp_->path() / name; }
  /** A small VM spec named `name` (serial console on): any readable file as the kernel for the
   *  emulator, the test guest for a real VMM. */
  nlohmann::json spec(const std::string &name) const;
  /** vm_create + vm_start; fails the test on error. */
  hal_vm *start(hal_backend *backend, const nlohmann::json &spec_doc);
  /** Current state. */
  hal_vm_state state(hal_vm *vm) const;
  /** migration_get_progress, parsed. */
  nlohmann::json progress(hal_vm *vm) const;
  /** A recorder that outlives every backend of the test (backends close at teardown). */
  Recorder &recorder() { return recorders_.emplace_back(); }
  /** Keeps `vm` to release at teardown. */
  hal_vm *keep(hal_vm *vm);

  std::string binary_;

 private:
  std::string guest_dir_;
  const hal_backend_table *table_ = nullptr;
  std::unique_ptr<hal::testing::TempDir> tmp_;
  std::vector<hal_backend *> backends_;
  std::vector<hal_vm *> vms_;
  std::list<Recorder> recorders_;
};

/** The text of a file ("" when unreadable). */
std::string file_text(const std::filesystem::path &path);

}  // namespace hal::cloud_hypervisor::testing

#endif  // HAL_BACKENDS_CLOUD_HYPERVISOR_TESTS_PLUGIN_FIXTURE_H
