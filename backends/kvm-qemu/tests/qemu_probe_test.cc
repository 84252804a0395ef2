// qemu_probe_test.cc - the KVM guest probe against stand-in QEMU binaries (/bin/sh scripts): one
// whose firmware writes its first line to the debug console, one that aborts as QEMU does on a
// KVM that cannot take the CPU model, and one that cannot be started.
#include "backends/kvm-qemu/qemu_probe.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "backends/kvm-qemu/tests/stand_in_qemu.h"
#include "testing/temp_dir.h"

namespace hal::kvm_qemu {
namespace {

namespace fs = std::filesystem;

class KvmGuestProbeTest : public ::testing::Test {
 protected:
  // Writes an executable stand-in QEMU `name` running `body` (stand_in_qemu.h).
  std::string fake_qemu(const std::string &name, const std::string &body) {
    return testing::write_stand_in_qemu(root_ / name, body);
  }
  // True when nothing the probe made is left under the scratch dir.
  bool scratch_is_empty() const { return fs::is_empty(root_ / "scratch"); }

  hal::testing::TempDir dir_{"hal-kvmq-probe-"};
  const fs::path root_ = dir_.path();
};

TEST_F(KvmGuestProbeTest, FirmwareOutputMeansKvmRunsAGuest) {
  const std::string qemu = fake_qemu("qemu-ok", testing::kFirmwareRuns);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(kvm_guest_probe(qemu, root_ / "scratch"), "");
  // The still running stand-in was killed, not waited for.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(8));
  EXPECT_TRUE(scratch_is_empty());
}

TEST_F(KvmGuestProbeTest, QemuThatAbortsIsReportedWithItsOwnMessage) {
  const std::string qemu = fake_qemu(
      "qemu-abort",
      "echo 'qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69' >&2\nkill -ABRT $$\n");
  const std::string reason = kvm_guest_probe(qemu, root_ / "scratch");
  EXPECT_NE(reason.find("exited before running firmware code"), std::string::npos) << reason;
  EXPECT_NE(reason.find("failed to set MSR 0x10a"), std::string::npos) << reason;
  EXPECT_TRUE(scratch_is_empty());
}

TEST_F(KvmGuestProbeTest, MissingBinaryIsAReasonNotAnException) {
  const std::string reason = kvm_guest_probe((root_ / "no-such-qemu").string(), root_ / "scratch");
  EXPECT_FALSE(reason.empty());
  EXPECT_NE(reason.find("no-such-qemu"), std::string::npos) << reason;
}

TEST_F(KvmGuestProbeTest, UnusableScratchDirIsAReason) {
  std::ofstream(root_ / "file") << "x";
  const std::string reason = kvm_guest_probe("qemu-system-x86_64", root_ / "file" / "scratch");
  EXPECT_NE(reason.find("mkdtemp"), std::string::npos) << reason;
}

}  // namespace
}  // namespace hal::kvm_qemu
