// kvm_host_test.cc - the KVM host facts and the refusal they lead to, on fake host roots: a
// hardware KVM (kvm_intel, kvm_amd), a paravirtual one (kvm_pvm), no /dev/kvm, and a /dev/kvm
// on a CPU without vmx/svm.
#include "core/host/kvm_host.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

#include "core/host/host_topology.h"

namespace hal {
namespace {

namespace fs = std::filesystem;

// A fake host root with /dev/kvm (an openable file), one vendor module and CPU flags.
class FakeKvmHost {
 public:
  FakeKvmHost(const std::string &module, const std::string &flags) {
    static int counter = 0;
    root_ = fs::temp_directory_path() /
            ("hal-fake-kvm-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::remove_all(root_);
    write("dev/kvm", "");
    if (!module.empty()) write("sys/module/" + module + "/refcnt", "0\n");
    write("proc/cpuinfo", "processor\t: 0\nflags\t\t: " + flags + "\n");
  }
  ~FakeKvmHost() {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  void write(const std::string &relative, const std::string &text) {
    fs::create_directories((root_ / relative).parent_path());
    std::ofstream(root_ / relative) << text;
  }
  const fs::path &root() const { return root_; }

 private:
  fs::path root_;
};

TEST(KvmHost, HardwareKvmIsAccepted) {
  for (const auto &[module, flag] : {std::pair{"kvm_intel", "vmx"}, std::pair{"kvm_amd", "svm"}}) {
    FakeKvmHost host(module, std::string("fpu ") + flag + " lm");
    const KvmHostFacts facts = read_kvm_host_facts(host.root());
    EXPECT_EQ(facts.device_error, "");
    EXPECT_EQ(facts.vendor_module, module);
    EXPECT_TRUE(facts.cpu_flags_known);
    EXPECT_TRUE(facts.hardware_virtualisation);
    EXPECT_EQ(kvm_host_refusal(facts), "") << module;
    EXPECT_EQ(detect_accelerator(host.root()), "kvm");
  }
}

TEST(KvmHost, PvmIsRefusedByName) {
  FakeKvmHost host("kvm_pvm", "fpu lm hypervisor");
  const KvmHostFacts facts = read_kvm_host_facts(host.root());
  EXPECT_EQ(facts.vendor_module, "kvm_pvm");
  EXPECT_EQ(kvm_host_refusal(facts), "/dev/kvm is kvm-pvm, which runs only PVM guest kernels");
  EXPECT_EQ(detect_accelerator(host.root()), "tcg");
}

TEST(KvmHost, PvmBesideABuiltInKvmIntelIsStillPvm) {
  FakeKvmHost host("kvm_pvm", "fpu vmx");
  host.write("sys/module/kvm_intel/parameters/nested", "N\n");
  EXPECT_EQ(read_kvm_host_facts(host.root()).vendor_module, "kvm_pvm");
  EXPECT_NE(kvm_host_refusal(read_kvm_host_facts(host.root())), "");
}

TEST(KvmHost, MissingDeviceIsRefusedWithTheOpenError) {
  FakeKvmHost host("kvm_intel", "vmx");
  fs::remove(host.root() / "dev/kvm");
  EXPECT_EQ(kvm_host_refusal(read_kvm_host_facts(host.root())),
            "/dev/kvm: No such file or directory");
  EXPECT_EQ(detect_accelerator(host.root()), "tcg");
}

TEST(KvmHost, TheOpenErrorIsKeptAsErrnoAndTdxDetectionUsesIt) {
  FakeKvmHost host("kvm_intel", "vmx");
  EXPECT_EQ(read_kvm_host_facts(host.root()).device_errno, 0);
  fs::remove(host.root() / "dev/kvm");
  EXPECT_EQ(read_kvm_host_facts(host.root()).device_errno, ENOENT);
  EXPECT_NE(detect_tdx(host.root()).reason.find("/dev/kvm is missing"), std::string::npos);
  // A /dev/kvm that is there but does not open (as root, a directory rather than EACCES).
  fs::create_directories(host.root() / "dev/kvm");
  const KvmHostFacts facts = read_kvm_host_facts(host.root());
  EXPECT_EQ(facts.device_errno, EISDIR);
  EXPECT_EQ(facts.device_error, "/dev/kvm: Is a directory");
  const std::string tdx_reason = detect_tdx(host.root()).reason;
  EXPECT_NE(tdx_reason.find("/dev/kvm: Is a directory"), std::string::npos) << tdx_reason;
  EXPECT_EQ(tdx_reason.find("/dev/kvm is missing"), std::string::npos) << tdx_reason;
}

TEST(KvmHost, CpuWithoutVmxOrSvmIsRefused) {
  FakeKvmHost host("", "fpu lm hypervisor");
  const std::string refusal = kvm_host_refusal(read_kvm_host_facts(host.root()));
  EXPECT_NE(refusal.find("an unknown module"), std::string::npos) << refusal;
  EXPECT_NE(refusal.find("no vmx or svm"), std::string::npos) << refusal;
}

TEST(KvmHost, UnreadableCpuFlagsDoNotRefuse) {
  FakeKvmHost host("kvm_amd", "svm");
  fs::remove(host.root() / "proc/cpuinfo");
  const KvmHostFacts facts = read_kvm_host_facts(host.root());
  EXPECT_FALSE(facts.cpu_flags_known);
  EXPECT_EQ(kvm_host_refusal(facts), "");
}

TEST(KvmHost, RealHostAgreesWithDetectAccelerator) {
  const std::string refusal = kvm_host_refusal(read_kvm_host_facts("/"));
  EXPECT_EQ(detect_accelerator("/"), refusal.empty() ? "kvm" : "tcg") << refusal;
}

}  // namespace
}  // namespace hal
