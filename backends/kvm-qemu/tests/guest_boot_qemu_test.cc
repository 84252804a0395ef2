// Integration test: boots the HAL test guest (scripts/test-guest) under TCG, checks its console
// markers, then powers it down through QMP system_powerdown (ACPI power button).
// Needs HAL_TEST_GUEST_DIR=<dir with vmlinuz and initrd.img>, e.g. $(scripts/test-guest/build.sh);
// skipped without it.
#include <gtest/gtest.h>

#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "backends/kvm-qemu/qmp_client.h"
#include "testing/bare_qemu.h"
#include "testing/temp_dir.h"

namespace hal::kvm_qemu {
namespace {

using namespace std::chrono_literals;

std::string ReadFile(const std::string &path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Polls `path` until it contains `needle` or the timeout passes.
bool WaitForText(const std::string &path, const std::string &needle,
                 std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (ReadFile(path).find(needle) != std::string::npos) return true;
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

TEST(GuestBootQemu, MarkersAndAcpiPowerdown) {
  const char *guest = std::getenv("HAL_TEST_GUEST_DIR");
  if (!guest || !*guest) GTEST_SKIP() << "HAL_TEST_GUEST_DIR not set (see scripts/test-guest)";
  std::string qemu = hal::testing::find_qemu_binary();
  if (qemu.empty()) GTEST_SKIP() << "qemu-system-x86_64 not found";
  std::string g = guest;
  hal::testing::TempDir dir("hal-guestlog-");
  std::string console = (dir.path() / "console.log").string();
  {
    hal::testing::BareQemu proc(
        qemu, {"-accel", "tcg", "-machine", "q35", "-m", "512", "-smp", "2", "-nodefaults",
               "-display", "none", "-serial", "file:" + console, "-kernel", g + "/vmlinuz",
               "-initrd", g + "/initrd.img", "-append", "console=ttyS0 quiet"});
    QmpClient::Options options;
    options.connect_timeout = 20s;
    auto client = QmpClient::connect(proc.qmp_path(), options);
    std::mutex mu;
    std::condition_variable cv;
    bool shutdown = false;
    client->subscribe("SHUTDOWN", [&](const QmpEvent &) {
      std::lock_guard lock(mu);
      shutdown = true;
      cv.notify_all();
    });
    ASSERT_TRUE(WaitForText(console, "HAL-GUEST: heartbeat 1 ", 90s)) << ReadFile(console);
    std::string out = ReadFile(console);
    EXPECT_NE(out.find("HAL-GUEST: ready boot_id="), std::string::npos);
    EXPECT_NE(out.find("HAL-GUEST: cpus=2"), std::string::npos);
    EXPECT_NE(out.find("HAL-GUEST: numa nodes=1"), std::string::npos);
    EXPECT_NE(out.find("HAL-GUEST: memory_kb="), std::string::npos);
    EXPECT_NE(out.find("HAL-GUEST: pci 0000:00:00.0 vendor=0x8086"), std::string::npos);

    client->execute("system_powerdown");
    ASSERT_TRUE(WaitForText(console, "HAL-GUEST: powerdown", 30s)) << ReadFile(console);
    {
      std::unique_lock lock(mu);
      EXPECT_TRUE(cv.wait_for(lock, 30s, [&] { return shutdown; }));
    }
    EXPECT_TRUE(proc.wait_for_exit(30s));
  }
}

}  // namespace
}  // namespace hal::kvm_qemu
