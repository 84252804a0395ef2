// plugin_lifecycle_test.cc - the plugin through its C table against the emulator, where the
// backend must follow what Cloud Hypervisor really does: a guest kernel panic is reported only
// through a pvpanic device (pvpanic: true, event guest/panic); NICs name their tap device or are
// refused; a stale serial socket left by a crashed VMM is removed before the next start, since
// the VMM binds the path without removing a leftover file.
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

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

using ChLifecycle = ChPluginTest;

TEST_F(ChLifecycle, AGuestPanicIsReportedThroughPvpanic) {
  Recorder &events = recorder();
  hal_backend *backend = open("a", events);
  ASSERT_NE(backend, nullptr);
  json s = spec("panics");
  s["boot"]["cmdline"] = "console=ttyS0 hal.panic_after=0.3";
  hal_vm *vm = start(backend, s);
  ASSERT_NE(vm, nullptr);
  auto crashed = events.wait_for(
      "panics", [](const RecordedEvent &e) { return e.type == HAL_EVENT_GUEST_CRASHED; }, 10s);
  ASSERT_TRUE(crashed.has_value()) << events.describe("panics");
  EXPECT_NE(crashed->detail.value("reason", "").find("panic"), std::string::npos)
      << crashed->detail.dump();
  EXPECT_EQ(state(vm), HAL_VM_STATE_CRASHED);
  const std::string file = file_text(state_root("a") / "panics" / "events.json");
  EXPECT_NE(file.find("\"panic\""), std::string::npos) << file;
  EXPECT_NE(file.find("\"guest\""), std::string::npos) << file;
  // A crashed VM starts again.
  Err err;
  EXPECT_EQ(table().vm_start(vm, 0, &err.e), HAL_OK) << err.e.message;
  EXPECT_EQ(table().vm_force_stop(vm, 0, &err.e), HAL_OK) << err.e.message;
}

// Binds a unix socket at `path` and closes it, leaving the file as a crashed VMM does.
void leave_stale_socket(const fs::path &path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr), 0);
  ::close(fd);
}

class ChSerialSockets : public ChPluginTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(ChSerialSockets, AStaleSerialSocketIsRemovedAfterACrashAndBeforeAStart) {
  std::string why;
  if (GetParam() == "real" && !use_real_binary(&why)) {
    GTEST_SKIP() << "real cloud-hypervisor variant skipped: " << why;
  }
  Recorder &events = recorder();
  hal_backend *backend = open("a", events);
  ASSERT_NE(backend, nullptr);
  hal_vm *vm = start(backend, spec("stale"));
  ASSERT_NE(vm, nullptr);
  const fs::path dir = state_root("a") / "stale";
  const fs::path serial = dir / "serial.sock";
  char *console = nullptr;
  Err err;
  ASSERT_EQ(table().vm_get_console(vm, 0, &console, &err.e), HAL_OK) << err.e.message;
  EXPECT_EQ(json::parse(console)["path"], serial.string()) << "in the VM's own state dir";
  table().free_string(console);
  EXPECT_TRUE(fs::exists(serial));
  // The VMM dies without cleaning up.
  const int pid = std::atoi(file_text(dir / "cloud-hypervisor.pid").c_str());
  ASSERT_GT(pid, 0);
  ::kill(pid, SIGKILL);
  ASSERT_TRUE(events.wait_for(
      "stale", [](const RecordedEvent &e) { return e.type == HAL_EVENT_GUEST_CRASHED; }, 10s))
      << events.describe("stale");
  EXPECT_FALSE(fs::exists(serial)) << "the backend removes what the dead VMM left";
  // A leftover however it came: the next start removes it (the VMM would fail "in use").
  leave_stale_socket(serial);
  EXPECT_EQ(table().vm_start(vm, 0, &err.e), HAL_OK) << err.e.message;
  EXPECT_EQ(state(vm), HAL_VM_STATE_RUNNING);
  EXPECT_EQ(table().vm_force_stop(vm, 0, &err.e), HAL_OK) << err.e.message;
}

INSTANTIATE_TEST_SUITE_P(Binary, ChSerialSockets, ::testing::Values("emulator", "real"),
                         [](const auto &info) { return info.param; });

}  // namespace
}  // namespace hal::cloud_hypervisor::testing
