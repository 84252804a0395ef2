// plugin_lifecycle_test.cc - the plugin through its C table against the emulator, where the
// backend must follow what Cloud Hypervisor really does: a guest kernel panic is reported only
// through a pvpanic device (pvpanic: true, event guest/panic); NICs name their tap device or are
// refused; a stale serial socket left by a crashed VMM is removed before the next start, since
// the VMM binds the path without removing a leftover file.
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

}  // namespace
}  // namespace hal::cloud_hypervisor::testing
