// plugin_fixture.h - helpers for the kvm-qemu plugin integration tests: loading the plugin with
// dlopen + hal_plugin_negotiate, an event recorder, a serial console reader, the test guest and
// per-test temporary state dirs (with every QEMU the test started killed by pid at teardown).
#ifndef HAL_BACKENDS_KVM_QEMU_TESTS_PLUGIN_FIXTURE_H
#define HAL_BACKENDS_KVM_QEMU_TESTS_PLUGIN_FIXTURE_H

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "backends/kvm-qemu/tests/test_guest.h"
#include "hal/hal.h"

namespace hal::kvm_qemu::testing {

/** The negotiated table of the kvm-qemu plugin (loaded once per test program). */
const hal_backend_table &plugin_table();

/** Negotiates again with the loaded kvm-qemu plugin, the host offering `offered`; returns the
 *  table it answers. Throws std::runtime_error when it refuses. */
const hal_backend_table &negotiate_plugin(uint32_t offered);

/** One recorded event. */
struct RecordedEvent {
  hal_event_type type;
  std::string vm_id;
  hal_vm_state state;
  nlohmann::json detail;
};

/** Records every event of a backend instance; pass as (callback, this) to open(). */
class EventRecorder {
 public:
  /** The hal_event_fn to register. */
  static void callback(void *user_data, const hal_event *event);
  /** Waits until an event matching `pred` has been recorded at index >= `from`. */
  std::optional<RecordedEvent> wait_for(const std::function<bool(const RecordedEvent &)> &pred,
                                        std::chrono::milliseconds timeout, size_t from = 0);
  /** Copy of everything so far. */
  std::vector<RecordedEvent> all();

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<RecordedEvent> events_;
};

/** Reads a unix-socket serial console line by line on a background thread. */
class ConsoleReader {
 public:
  /** Connects to `path` (retrying up to 10 s); throws std::runtime_error on failure. */
  explicit ConsoleReader(const std::string &path);
  ~ConsoleReader();
  /** Waits for a line containing `needle`, at or after line index `from`; returns its index. */
  std::optional<size_t> wait_for(const std::string &needle, std::chrono::milliseconds timeout,
                                 size_t from = 0);
  /** Line `index`. */
  std::string line(size_t index);
  /** Number of lines so far. */
  size_t size();
  /** Everything read so far (for failure messages). */
  std::string text();

 private:
  void run();
  int fd_ = -1;
  int wake_ = -1;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::string> lines_;
  std::string partial_;
};

/** A temporary directory removed (recursively) at destruction. */
class TempDir {
 public:
  /** mkdtemp under /tmp with `prefix`. */
  explicit TempDir(const std::string &prefix);
  ~TempDir();
  /** The path. */
  const std::string &path() const { return path_; }

 private:
  std::string path_;
};

/** SIGKILLs every QEMU whose pidfile is under `state_root` (test safety net). */
void kill_qemus_under(const std::string &state_root);

/** Problems of `doc` against the embedded schema `schema` ("vm-info.schema.json"), as text;
 *  "" when it conforms. */
std::string schema_problems(const std::string &schema, const nlohmann::json &doc);

/** Calls a string-returning entry and parses the JSON (fails the test on error). */
nlohmann::json call_json(const std::function<hal_status(char **, hal_error *)> &fn);

}  // namespace hal::kvm_qemu::testing

#endif  // HAL_BACKENDS_KVM_QEMU_TESTS_PLUGIN_FIXTURE_H
