// accelerator_test.cc - the kvm-qemu accelerator decision on fake host roots (a hardware KVM, a
// paravirtual kvm_pvm, no /dev/kvm) with stand-in QEMU binaries, and what the backend's open
// and capabilities make of it.
#include "backends/kvm-qemu/accelerator.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

#include "backends/kvm-qemu/kvm_qemu_backend.h"
#include "backends/kvm-qemu/tests/stand_in_qemu.h"
#include "testing/temp_dir.h"

namespace hal::kvm_qemu {
namespace {

namespace fs = std::filesystem;

constexpr const char *kPvmRefusal = "/dev/kvm is kvm-pvm, which runs only PVM guest kernels";

class AcceleratorTest : public ::testing::Test {
 protected:
  void write(const std::string &relative, const std::string &text) {
    fs::create_directories((root_ / relative).parent_path());
    std::ofstream(root_ / relative) << text;
  }
  // A fake host root with an openable /dev/kvm from `module` and the CPU flags `flags`.
  fs::path host(const std::string &module, const std::string &flags) {
    write("host/dev/kvm", "");
    write("host/sys/module/" + module + "/refcnt", "0\n");
    write("host/proc/cpuinfo", "processor\t: 0\nflags\t\t: " + flags + "\n");
    return root_ / "host";
  }
  // A stand-in QEMU whose firmware runs under KVM; it leaves `ran` behind when started.
  std::string qemu_that_runs_firmware() {
    return testing::write_stand_in_qemu(
        root_ / "qemu", "touch '" + (root_ / "ran").string() + "'\n" + testing::kFirmwareRuns);
  }
  bool qemu_ran() const { return fs::exists(root_ / "ran"); }
  std::string backend_config(const fs::path &host_root, const std::string &accelerator,
                             const std::string &qemu) {
    return nlohmann::json({{"stateDir", (root_ / "state").string()},
                           {"qemuBinary", qemu},
                           {"accelerator", accelerator},
                           {"hostRoot", host_root.string()}})
        .dump();
  }

  hal::testing::TempDir dir_{"hal-kvmq-accel-"};
  const fs::path root_ = dir_.path();
};

TEST_F(AcceleratorTest, HardwareKvmThatRunsFirmwareIsChosenByAuto) {
  const fs::path host_root = host("kvm_intel", "fpu vmx lm");
  const std::string qemu = qemu_that_runs_firmware();
  const KvmRefusal refusal = kvm_refusal(qemu, root_ / "scratch", host_root);
  EXPECT_EQ(refusal.reason, "");
  EXPECT_TRUE(qemu_ran());  // the host facts passed, so QEMU was asked too
  const AcceleratorChoice choice = choose_accelerator("auto", [&] { return refusal; });
  EXPECT_EQ(choice.accelerator, "kvm");
  EXPECT_EQ(choice.reason, "kvm: /dev/kvm is hardware KVM and QEMU runs firmware under it");
}

TEST_F(AcceleratorTest, PvmIsRefusedFromHostFactsWithoutStartingQemu) {
  const fs::path host_root = host("kvm_pvm", "fpu lm hypervisor");
  const std::string qemu = qemu_that_runs_firmware();
  EXPECT_EQ(kvm_refusal(qemu, root_ / "scratch", host_root).reason, kPvmRefusal);
  EXPECT_FALSE(qemu_ran());
  const AcceleratorChoice choice =
      choose_accelerator("auto", [&] { return kvm_refusal(qemu, root_ / "scratch", host_root); });
  EXPECT_EQ(choice.accelerator, "tcg");
  EXPECT_EQ(choice.reason, std::string("kvm: ") + kPvmRefusal);
}

TEST_F(AcceleratorTest, NoDevKvmMeansTcgWithTheOpenError) {
  const fs::path host_root = host("kvm_amd", "svm");
  fs::remove(host_root / "dev/kvm");
  const AcceleratorChoice choice = choose_accelerator(
      "auto", [&] { return kvm_refusal(qemu_that_runs_firmware(), root_ / "s", host_root); });
  EXPECT_EQ(choice.accelerator, "tcg");
  EXPECT_EQ(choice.reason, "kvm: /dev/kvm: No such file or directory");
  EXPECT_FALSE(qemu_ran());
}

TEST_F(AcceleratorTest, ExplicitTcgAsksNothing) {
  bool asked = false;
  const AcceleratorChoice choice = choose_accelerator("tcg", [&] {
    asked = true;
    return KvmRefusal();
  });
  EXPECT_FALSE(asked);
  EXPECT_EQ(choice.accelerator, "tcg");
  EXPECT_EQ(choice.reason, "tcg: config.accelerator is tcg");
}

TEST_F(AcceleratorTest, ExplicitKvmThatIsRefusedFailsWithTheReason) {
  try {
    choose_accelerator("kvm", [] { return KvmRefusal{kPvmRefusal}; });
    FAIL() << "expected a Failure";
  } catch (const hal::plugin::Failure &failure) {
    EXPECT_EQ(failure.status, HAL_UNAVAILABLE);
    EXPECT_EQ(std::string(failure.what()),
              std::string("kvm-qemu: accelerator kvm requested but ") + kPvmRefusal);
  }
  try {
    choose_accelerator("kvm", [] { return KvmRefusal{"/dev/kvm: Permission denied", EACCES}; });
    FAIL() << "expected a Failure";
  } catch (const hal::plugin::Failure &failure) {
    EXPECT_EQ(failure.status, HAL_PERMISSION_DENIED);
  }
  EXPECT_EQ(choose_accelerator("kvm", [] { return KvmRefusal(); }).accelerator, "kvm");
}

TEST_F(AcceleratorTest, TheStatusOfARefusedKvmComesFromTheDeviceErrnoNotTheWords) {
  const fs::path host_root = host("kvm_intel", "vmx");
  fs::remove(host_root / "dev/kvm");
  const KvmRefusal refusal = kvm_refusal(qemu_that_runs_firmware(), root_ / "s", host_root);
  EXPECT_EQ(refusal.reason, "/dev/kvm: No such file or directory");
  EXPECT_EQ(refusal.device_errno, ENOENT);
  try {
    choose_accelerator("kvm", [&] { return refusal; });
    FAIL() << "expected a Failure";
  } catch (const hal::plugin::Failure &failure) {
    EXPECT_EQ(failure.status, HAL_UNAVAILABLE);
  }
  // A reason that merely mentions permissions is no permission problem of /dev/kvm.
  try {
    choose_accelerator("kvm", [] { return KvmRefusal{"QEMU: Permission denied on its log"}; });
    FAIL() << "expected a Failure";
  } catch (const hal::plugin::Failure &failure) {
    EXPECT_EQ(failure.status, HAL_UNAVAILABLE);
  }
  try {
    choose_accelerator("kvm", [] {
      return KvmRefusal{"/dev/kvm: Operation not permitted", EPERM};
    });
    FAIL() << "expected a Failure";
  } catch (const hal::plugin::Failure &failure) {
    EXPECT_EQ(failure.status, HAL_PERMISSION_DENIED);
  }
  EXPECT_EQ(
      kvm_refusal(qemu_that_runs_firmware(), root_ / "s", host("kvm_pvm", "fpu")).device_errno, 0);
}

TEST_F(AcceleratorTest, BackendOnPvmHostRefusesExplicitKvmAndReportsWhyAutoIsTcg) {
  const fs::path host_root = host("kvm_pvm", "fpu lm");
  try {
    KvmQemuBackend backend(backend_config(host_root, "kvm", "/bin/true"), {});
    FAIL() << "open with accelerator kvm on a kvm-pvm host must fail";
  } catch (const hal::plugin::Failure &failure) {
    EXPECT_EQ(failure.status, HAL_UNAVAILABLE);
    EXPECT_NE(std::string(failure.what()).find(kPvmRefusal), std::string::npos) << failure.what();
  }
  KvmQemuBackend backend(backend_config(host_root, "auto", "/bin/true"), {});
  const nlohmann::json caps = nlohmann::json::parse(backend.capabilities());
  EXPECT_EQ(caps["accelerator"], "tcg");
  EXPECT_EQ(caps["acceleratorReason"], std::string("kvm: ") + kPvmRefusal);
  const nlohmann::json host_info = nlohmann::json::parse(backend.host_info());
  EXPECT_EQ(host_info["accelerator"], "tcg");
  backend.close(0);
}

}  // namespace
}  // namespace hal::kvm_qemu
