// migration_events_test.cc - the backend's live migration against the emulator at each Cloud
// Hypervisor release it adapts to: from v53.0 the VMM answers vm.send-migration with 204 when the
// migration starts, so a migration that fails after that 204 must leave the source RUNNING and
// never MIGRATED, and a successful one may be MIGRATED only once vm/migration-finished is in the
// event file; v52.0 (synchronous, with events) and v48.0 (synchronous, no events, no downtime or
// timeout fields) migrate too; a binary older than v45.0 is refused at open.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "backends/cloud-hypervisor/tests/plugin_fixture.h"

namespace hal::cloud_hypervisor::testing {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

struct Err {
  hal_error e{};
  Err() { e.struct_size = sizeof e; }
};

bool contains(const std::vector<hal_vm_state> &states, hal_vm_state state) {
  return std::find(states.begin(), states.end(), state) != states.end();
}

// A migration destination that accepts one connection, reads `read_bytes` of the stream, waits
// `hold` and hangs up: the source's migration fails after it started.
class FailingTarget {
 public:
  FailingTarget(size_t read_bytes, std::chrono::milliseconds hold) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr *>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(fd_, 1), 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr *>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this, read_bytes, hold] {
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) return;
      std::vector<char> buffer(64 * 1024);
      size_t got = 0;
      while (got < read_bytes) {
        ssize_t n = ::read(c, buffer.data(), buffer.size());
        if (n <= 0) break;
        got += static_cast<size_t>(n);
      }
      accepted_ = true;
      std::this_thread::sleep_for(hold);
      ::close(c);
    });
  }
  ~FailingTarget() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  std::string uri() const { return "tcp:127.0.0.1:" + std::to_string(port_); }
  bool accepted() const { return accepted_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> accepted_{false};
  std::thread thread_;
};

class ChMigration : public ChPluginTest {
 protected:
  static bool finished(const RecordedEvent &e) { return e.type == HAL_EVENT_MIGRATION_FINISHED; }

  // Migrates VM `name` from a fresh backend "a" to a fresh backend "b" at `bandwidth` MiB/s;
  // checks the outcome and that MIGRATED came only with vm/migration-finished in the source's
  // event file (or, for releases without that event, the VMM's 204).
  void migrate_successfully(const std::string &name, const json &extra_params) {
    Recorder &a_events = recorder(), &b_events = recorder();
    hal_backend *a = open("a", a_events);
    hal_backend *b = open("b", b_events);
    ASSERT_TRUE(a && b);
    const fs::path source_events = state_root("a") / name / "events.json";
    a_events.hook = [source_events](const hal_event &e) -> std::string {
      if (e.type != HAL_EVENT_STATE_CHANGED || e.state != HAL_VM_STATE_MIGRATED) return "";
      return file_text(source_events);  // the event file as the VM becomes MIGRATED
    };
    hal_vm *vm = start(a, spec(name));
    ASSERT_NE(vm, nullptr);
    hal_vm *incoming = nullptr;
    char *endpoint = nullptr;
    Err err;
    ASSERT_EQ(table().migration_prepare_incoming(b, spec(name).dump().c_str(), nullptr, 0,
                                                 &incoming, &endpoint, &err.e),
              HAL_OK)
        << err.e.message;
    keep(incoming);
    json params = extra_params;
    params["uri"] = json::parse(endpoint)["uri"];
    table().free_string(endpoint);
    params["bandwidthMiBps"] = 64;  // about a second for 64 MiB: MIGRATED on the 204 would show
    const auto sent = std::chrono::steady_clock::now();
    ASSERT_EQ(table().migration_send(vm, params.dump().c_str(), 0, &err.e), HAL_OK)
        << err.e.message;
    auto done = a_events.wait_for(name, finished, 30s);
    ASSERT_TRUE(done.has_value()) << a_events.describe(name);
    EXPECT_EQ(done->detail.value("status", ""), "completed")
        << done->detail.dump()
        << "\ntarget log: " << file_text(state_root("b") / name / "cloud-hypervisor.log")
        << "\ntarget events: " << file_text(state_root("b") / name / "events.json")
        << "\ntarget backend: " << b_events.describe(name);
    EXPECT_GE(std::chrono::steady_clock::now() - sent, 500ms) << "completed before the transfer";
    EXPECT_EQ(state(vm), HAL_VM_STATE_MIGRATED);
    auto migrated = a_events.wait_for(
        name,
        [](const RecordedEvent &e) {
          return e.type == HAL_EVENT_STATE_CHANGED && e.state == HAL_VM_STATE_MIGRATED;
        },
        1s);
    ASSERT_TRUE(migrated.has_value()) << a_events.describe(name);
    // A real binary reports the events from v52.0 on (it says vm/migration-started then).
    if (has_events_ &&
        (!real() || file_text(source_events).find("\"migration-started\"") != std::string::npos)) {
      EXPECT_NE(migrated->observed.find("\"migration-finished\""), std::string::npos)
          << "MIGRATED before vm/migration-finished; event file then:\n"
          << migrated->observed;
    }
    EXPECT_TRUE(done->detail.contains("downtimeMs")) << done->detail.dump();
    EXPECT_LT(done->detail.value("downtimeMs", 100000), 5000) << done->detail.dump();
    EXPECT_TRUE(b_events.wait_for(
        name,
        [](const RecordedEvent &e) {
          return e.type == HAL_EVENT_STATE_CHANGED && e.state == HAL_VM_STATE_RUNNING;
        },
        10s))
        << b_events.describe(name);
    // Same host: each VMM has the serial socket in its own dir, so the target bound its own and
    // the source's exit (which removes the source's) left it alone.
    std::this_thread::sleep_for(300ms);
    EXPECT_TRUE(fs::exists(state_root("b") / name / "serial.sock"));
  }

  bool has_events_ = true;
};

// The same two migrations with a real cloud-hypervisor, whatever its release.
TEST_F(ChMigration, RealBinaryMigratedOnlyOnItsOutcome) {
  std::string why;
  if (!use_real_binary(&why)) GTEST_SKIP() << "real cloud-hypervisor variant skipped: " << why;
  migrate_successfully("real", json::object());
}

TEST_F(ChMigration, RealBinaryFailureLeavesTheSourceRunning) {
  std::string why;
  if (!use_real_binary(&why)) GTEST_SKIP() << "real cloud-hypervisor variant skipped: " << why;
  Recorder &events = recorder();
  hal_backend *a = open("a", events);
  ASSERT_NE(a, nullptr);
  hal_vm *vm = start(a, spec("realfail"));
  ASSERT_NE(vm, nullptr);
  FailingTarget target(1 << 20, 400ms);
  Err err;
  const json params = {{"uri", target.uri()}};
  ASSERT_EQ(table().migration_send(vm, params.dump().c_str(), 0, &err.e), HAL_OK) << err.e.message;
  auto done = events.wait_for(
      "realfail", [](const RecordedEvent &e) { return e.type == HAL_EVENT_MIGRATION_FINISHED; },
      60s);
  ASSERT_TRUE(done.has_value()) << events.describe("realfail");
  EXPECT_EQ(done->detail.value("status", ""), "failed") << done->detail.dump();
  EXPECT_EQ(state(vm), HAL_VM_STATE_RUNNING);
  EXPECT_FALSE(contains(events.states("realfail"), HAL_VM_STATE_MIGRATED));
}

// Must show: v53 answers 204 at the start, then the migration fails; the source stays RUNNING
// and is never marked MIGRATED.
TEST_F(ChMigration, V53FailureAfterThe204LeavesTheSourceRunning) {
  emulate_release("53.0.0");
  Recorder &events = recorder();
  hal_backend *a = open("a", events);
  ASSERT_NE(a, nullptr);
  hal_vm *vm = start(a, spec("fails"));
  ASSERT_NE(vm, nullptr);
  FailingTarget target(1 << 20, 400ms);
  Err err;
  const json params = {{"uri", target.uri()}};
  ASSERT_EQ(table().migration_send(vm, params.dump().c_str(), 0, &err.e), HAL_OK) << err.e.message;
  // The VMM has answered (204) and is transferring; the target has not hung up yet.
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(state(vm), HAL_VM_STATE_RUNNING) << "the 204 of v53 does not mean done";
  EXPECT_EQ(progress(vm).value("status", ""), "active") << progress(vm).dump();
  auto done = events.wait_for(
      "fails", [](const RecordedEvent &e) { return e.type == HAL_EVENT_MIGRATION_FINISHED; }, 30s);
  ASSERT_TRUE(done.has_value()) << events.describe("fails");
  EXPECT_TRUE(target.accepted());
  EXPECT_EQ(done->detail.value("status", ""), "failed") << done->detail.dump();
  EXPECT_NE(done->detail.value("error", "").find("migration-failed"), std::string::npos)
      << done->detail.dump();
  EXPECT_EQ(state(vm), HAL_VM_STATE_RUNNING);
  EXPECT_FALSE(contains(events.states("fails"), HAL_VM_STATE_MIGRATED)) << events.describe("fails");
  const std::string file = file_text(state_root("a") / "fails" / "events.json");
  EXPECT_NE(file.find("\"migration-started\""), std::string::npos) << file;
  EXPECT_NE(file.find("\"migration-failed\""), std::string::npos) << file;
  // The VM is still usable: it can be stopped normally.
  EXPECT_EQ(table().vm_force_stop(vm, 0, &err.e), HAL_OK) << err.e.message;
}

// Must show: a v53 migration that succeeds is MIGRATED only once vm/migration-finished is out.
TEST_F(ChMigration, V53MigratedOnlyAfterTheFinishedEvent) {
  emulate_release("53.0.0");
  migrate_successfully("ok53", {{"maxDowntimeMs", 200}});
}

TEST_F(ChMigration, V52SynchronousWithEvents) {
  emulate_release("52.0.0");
  migrate_successfully("ok52", {{"maxDowntimeMs", 200}, {"timeoutMs", 60000}});
}

TEST_F(ChMigration, V48SynchronousWithoutEvents) {
  emulate_release("48.0.0");
  has_events_ = false;
  migrate_successfully("ok48", json::object());
}

TEST_F(ChMigration, V48RefusesDowntimeAndTimeoutByName) {
  emulate_release("48.0.0");
  Recorder &events = recorder();
  hal_backend *a = open("a", events);
  ASSERT_NE(a, nullptr);
  hal_vm *vm = start(a, spec("old"));
  ASSERT_NE(vm, nullptr);
  Err err;
  json params = {{"uri", "tcp:127.0.0.1:9"}, {"maxDowntimeMs", 100}};
  EXPECT_EQ(table().migration_send(vm, params.dump().c_str(), 0, &err.e), HAL_UNSUPPORTED);
  EXPECT_NE(std::string(err.e.message).find("params.maxDowntimeMs"), std::string::npos)
      << err.e.message;
  params = {{"uri", "tcp:127.0.0.1:9"}, {"timeoutMs", 1000}};
  EXPECT_EQ(table().migration_send(vm, params.dump().c_str(), 0, &err.e), HAL_UNSUPPORTED);
  EXPECT_NE(std::string(err.e.message).find("params.timeoutMs"), std::string::npos)
      << err.e.message;
  EXPECT_EQ(state(vm), HAL_VM_STATE_RUNNING);
}

TEST_F(ChMigration, ReleasesOlderThanTheOldestSupportedAreRefused) {
  emulate_release("44.0.0");
  Recorder &events = recorder();
  std::string error;
  EXPECT_EQ(open("old", events, &error), nullptr);
  EXPECT_NE(error.find("UNSUPPORTED"), std::string::npos) << error;
  EXPECT_NE(error.find("v44.0 is older than v45.0"), std::string::npos) << error;
  emulate_release("45.0.0");
  EXPECT_NE(open("oldest", events, &error), nullptr) << error;
}

}  // namespace
}  // namespace hal::cloud_hypervisor::testing
