// host_topology_test.cc - discovery against a fake sysfs tree of a 2-socket GPU server, and a
// smoke test against the real host.
#include "core/host/host_topology.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/spec/vm_spec_validation.h"

namespace hal {
namespace {

namespace fs = std::filesystem;

void write(const fs::path &path, const std::string &text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

// Builds <tmp>/sys, /proc and /dev for 2 nodes x 16 CPUs, 4 GPUs (2 per node), a NIC on node 1
// and a device without NUMA affinity. Removed again in the destructor.
class FakeHost {
 public:
  FakeHost() {
    root_ = fs::temp_directory_path() /
            ("hal-fake-sysfs-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    fs::remove_all(root_);
    write(root_ / "sys/devices/system/cpu/online", "0-31\n");
    write(root_ / "proc/meminfo", "MemTotal:       527843472 kB\nMemFree:        1000 kB\n");
    for (int node = 0; node < 2; ++node) {
      const fs::path dir = root_ / ("sys/devices/system/node/node" + std::to_string(node));
      write(dir / "cpulist", node == 0 ? "0-15\n" : "16-31\n");
      write(dir / "meminfo", "Node " + std::to_string(node) +
                                 " MemTotal:       263921736 kB\nNode " + std::to_string(node) +
                                 " MemFree:        1 kB\n");
    }
    write(root_ / "sys/devices/system/node/possible", "0-1\n");  // not a node dir
    pci("0000:3b:00.0", "0", "0x10de", "0x20b0", "0x030200");
    pci("0000:5e:00.0", "0", "0x10de", "0x20b0", "0x030200");
    pci("0000:af:00.0", "1", "0x10de", "0x20b0", "0x030200");
    pci("0000:d8:00.0", "1", "0x10de", "0x20b0", "0x030200");
    pci("0000:86:00.0", "1", "0x15b3", "0x101b", "0x020000");
    pci("0000:00:1f.0", "-1", "0x8086", "0xa1c8", "0x060100");
    write(root_ / "sys/module/kvm_intel/parameters/tdx", "Y\n");
    write(root_ / "dev/kvm", "");
    write(root_ / "proc/cpuinfo", "processor\t: 0\nflags\t\t: fpu vme vmx tdx_host_platform\n");
  }
  ~FakeHost() {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  const fs::path &root() const { return root_; }

  void pci(const std::string &address, const std::string &numa, const std::string &vendor,
           const std::string &device, const std::string &cls) {
    const fs::path dir = root_ / "sys/bus/pci/devices" / address;
    write(dir / "numa_node", numa + "\n");
    write(dir / "vendor", vendor + "\n");
    write(dir / "device", device + "\n");
    write(dir / "class", cls + "\n");
  }

 private:
  static inline int counter_ = 0;
  fs::path root_;
};

TEST(HostTopology, TwoSocketGpuServer) {
  FakeHost host;
  const HostTopology t = discover_host_topology(host.root());
  EXPECT_EQ(t.online_cpus.size(), 32u);
  EXPECT_EQ(t.memory_bytes, 527843472ull * 1024);
  ASSERT_EQ(t.numa_nodes.size(), 2u);
  EXPECT_EQ(t.numa_nodes[0].id, 0u);
  EXPECT_EQ(t.numa_nodes[0].cpus.size(), 16u);
  EXPECT_EQ(t.numa_nodes[1].cpus.front(), 16u);
  EXPECT_EQ(t.numa_nodes[1].cpus.back(), 31u);
  EXPECT_EQ(t.numa_nodes[1].memory_bytes, 263921736ull * 1024);

  ASSERT_EQ(t.pci_devices.size(), 6u);
  int gpus_per_node[2] = {0, 0};
  for (const auto &d : t.pci_devices) {
    if (d.class_code == "0x030200" && d.vendor == "0x10de") ++gpus_per_node[d.numa_node];
  }
  EXPECT_EQ(gpus_per_node[0], 2);
  EXPECT_EQ(gpus_per_node[1], 2);
  EXPECT_EQ(t.pci_devices[0].address, "0000:00:1f.0");  // sorted by address
  EXPECT_EQ(t.pci_devices[0].numa_node, -1);
  const auto nic = std::find_if(t.pci_devices.begin(), t.pci_devices.end(),
                                [](const auto &d) { return d.class_code == "0x020000"; });
  ASSERT_NE(nic, t.pci_devices.end());
  EXPECT_EQ(nic->numa_node, 1);

  EXPECT_TRUE(t.tdx.supported) << t.tdx.reason;
  EXPECT_EQ(t.tdx.reason, "");
  EXPECT_EQ(t.accelerator, "kvm");  // the fake /dev/kvm is an openable file

  const auto json = host_info_json(t);
  EXPECT_EQ(format_errors(validate_document("host-info", json, "hostInfo")), "");
  EXPECT_EQ(json["numaNodes"][1]["cpus"].size(), 16u);
  EXPECT_EQ(json["pciDevices"][0]["numaNode"], -1);
}

TEST(HostTopology, NoNodeDirsMeansOneNode) {
  FakeHost host;
  fs::remove_all(host.root() / "sys/devices/system/node");
  const HostTopology t = discover_host_topology(host.root());
  ASSERT_EQ(t.numa_nodes.size(), 1u);
  EXPECT_EQ(t.numa_nodes[0].id, 0u);
  EXPECT_EQ(t.numa_nodes[0].cpus.size(), 32u);
  EXPECT_EQ(t.numa_nodes[0].memory_bytes, t.memory_bytes);
}

TEST(HostTopology, CpusFromCpuDirsWithoutOnlineFile) {
  FakeHost host;
  fs::remove(host.root() / "sys/devices/system/cpu/online");
  for (int i = 0; i < 4; ++i) {
    fs::create_directories(host.root() / ("sys/devices/system/cpu/cpu" + std::to_string(i)));
  }
  fs::create_directories(host.root() / "sys/devices/system/cpu/cpufreq");
  EXPECT_EQ(discover_host_topology(host.root()).online_cpus, (std::vector<uint32_t>{0, 1, 2, 3}));
}

TEST(TdxDetection, ParameterDisabled) {
  FakeHost host;
  write(host.root() / "sys/module/kvm_intel/parameters/tdx", "N\n");
  const TdxSupport tdx = detect_tdx(host.root());
  EXPECT_FALSE(tdx.supported);
  EXPECT_EQ(tdx.reason,
            "kvm_intel tdx parameter is \"N\", not enabled (load kvm_intel with tdx=1)");
}

TEST(TdxDetection, NamesEverythingMissing) {
  FakeHost host;
  fs::remove(host.root() / "sys/module/kvm_intel/parameters/tdx");
  fs::remove(host.root() / "dev/kvm");
  write(host.root() / "proc/cpuinfo", "processor\t: 0\nflags\t\t: fpu vme\n");
  const TdxSupport tdx = detect_tdx(host.root());
  EXPECT_FALSE(tdx.supported);
  EXPECT_NE(tdx.reason.find("/sys/module/kvm_intel/parameters/tdx"), std::string::npos);
  EXPECT_NE(tdx.reason.find("/dev/kvm is missing"), std::string::npos);
  EXPECT_NE(tdx.reason.find("tdx_host_platform"), std::string::npos);
  EXPECT_EQ(detect_accelerator(host.root()), "tcg");
}

TEST(HostTopology, RealHost) {
  const HostTopology t = discover_host_topology("/");
  EXPECT_GE(t.online_cpus.size(), 1u);
  EXPECT_GT(t.memory_bytes, 0u);
  ASSERT_GE(t.numa_nodes.size(), 1u);
  EXPECT_TRUE(t.accelerator == "kvm" || t.accelerator == "tcg");
  EXPECT_EQ(t.tdx.supported, t.tdx.reason.empty());
  EXPECT_EQ(format_errors(validate_document("host-info", host_info_json(t), "hostInfo")), "");
}

}  // namespace
}  // namespace hal
