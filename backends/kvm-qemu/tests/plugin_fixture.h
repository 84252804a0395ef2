// plugin_fixture.h - helpers for the kvm-qemu plugin integration tests: the plugin loaded through
// hal::Plugin (testing/plugin_under_test.h), a serial console reader and per-test temporary
// state dirs (with every QEMU the test started killed by pid at teardown).
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

#include "hal/hal.h"
#include "testing/event_log.h"
#include "testing/plugin_under_test.h"
#include "testing/temp_dir.h"
#include "testing/test_guest.h"

namespace hal::kvm_qemu::testing {

/** The kvm-qemu plugin, loaded once per test program through hal::Plugin. */
const hal::testing::PluginUnderTest &kvm_qemu_plugin();

/** The negotiated table of the kvm-qemu plugin. */
const hal_backend_table &plugin_table();

/** The events of one backend instance; pass (&EventLog::callback, &log) to open(). */
using EventRecorder = hal::testing::EventLog;

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

/** A temporary state directory; every QEMU whose pidfile is under it is SIGKILLed (test safety
 *  net) before it is removed. */
class QemuStateDir {
 public:
  /** mkdtemp under /tmp with `prefix`. */
  explicit QemuStateDir(const std::string &prefix);
  ~QemuStateDir();
  QemuStateDir(const QemuStateDir &) = delete;
  QemuStateDir &operator=(const QemuStateDir &) = delete;
  /** The path. */
  std::string path() const { return dir_.str(); }

 private:
  hal::testing::TempDir dir_;
};

/** Problems of `doc` against the embedded schema `schema` ("vm-info.schema.json"), as text;
 *  "" when it conforms. */
std::string schema_problems(const std::string &schema, const nlohmann::json &doc);

/** Calls a string-returning entry and parses the JSON (fails the test on error). */
nlohmann::json call_json(const std::function<hal_status(char **, hal_error *)> &fn);

}  // namespace hal::kvm_qemu::testing

#endif  // HAL_BACKENDS_KVM_QEMU_TESTS_PLUGIN_FIXTURE_H
