// e2e_qemu_test.cc - end-to-end tests with real processes: hal-controller on its SQLite store,
// hal-node agents in a kvm-qemu pool (two nodes) and a mock pool, halctl, and QEMU (TCG) booting
// the project's test guest, whose console heartbeat proves what the guest itself experienced.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <regex>
#include <string>
#include <thread>

#include "controller/e2e/cluster.h"
#include "testing/test_guest.h"

namespace hal::e2e {
namespace {

using namespace std::chrono_literals;

const std::string kVmId = "default-testguest";

std::string read_file(const std::string &path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_file(const std::string &path, const std::string &text) {
  std::ofstream(path) << text;
}

class E2eQemuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    auto guest = hal::testing::test_guest_dir(&why);
    if (!guest) GTEST_SKIP() << "test guest unavailable: " << why;
    if (hal::testing::run_to_completion({"/bin/sh", "-c", "command -v qemu-system-x86_64"}, 5s)
            .exit_code != 0)
      GTEST_SKIP() << "qemu-system-x86_64 not installed";
    ClusterOptions options;
    options.nodes = {{"qemu-a", "qemu"}, {"qemu-b", "qemu"}, {"mock-a", "mock"}};
    options.nodepools_file = HAL_SOURCE_DIR "/examples/manifests/nodepools.yaml";
    options.test_guest_dir = *guest;
    // An agent restart (killed, two guest heartbeats awaited, started again: about 3.5 s on a
    // loaded machine) must fit in the grace, or the controller rightly fails the VMI as
    // NodeNotReady; what these tests check is re-adoption, not node loss.
    options.node_grace_ms = 15000;
    cluster_ = std::make_unique<Cluster>(
        Binaries{HAL_CONTROLLER_BIN, HAL_NODE_BIN, HALCTL_BIN, HAL_PLUGIN_PATH}, options);
  }

  void TearDown() override {
    if (HasFailure() && cluster_) std::cerr << cluster_->logs_tail() << "\n";
    cluster_.reset();
  }

  /** Applies the test-guest VM and waits until its VMI runs and the guest heartbeats. */
  std::string apply_and_wait_running() {
    auto applied =
        cluster_->halctl({"apply", "-f", HAL_SOURCE_DIR "/examples/manifests/testguest-vm.yaml"});
    EXPECT_EQ(applied.exit_code, 0) << applied.out << applied.err;
    EXPECT_NE(applied.out.find("created"), std::string::npos) << applied.out;
    std::string node = wait_vmi_running(60s);
    EXPECT_FALSE(node.empty()) << "VMI never Running";
    EXPECT_TRUE(wait_heartbeat_after(node, 0, 60s)) << "no guest heartbeat on " << node;
    return node;
  }

  /** Waits for VMI phase Running; returns its node ("" on timeout). */
  std::string wait_vmi_running(std::chrono::milliseconds timeout) {
    std::string node;
    Cluster::wait_until(
        [&] {
          auto vmi = cluster_->get("vmi", "testguest");
          if (vmi.is_null() || vmi["status"].value("phase", "") != "Running") return false;
          node = vmi["status"].value("nodeName", "");
          return !node.empty();
        },
        timeout);
    return node;
  }

  /** Waits until the guest on `node` printed a heartbeat with a counter above `after`. */
  bool wait_heartbeat_after(const std::string &node, long after,
                            std::chrono::milliseconds timeout) {
    return Cluster::wait_until(
        [&] { return last_heartbeat(cluster_->console_log(node, kVmId)).first > after; }, timeout);
  }

  std::string printable_status() {
    auto vm = cluster_->get("vm", "testguest");
    return vm.is_null() ? "" : vm["status"].value("printableStatus", "");
  }

  std::unique_ptr<Cluster> cluster_;
};

TEST_F(E2eQemuTest, ApplyBootsTheGuestAndReportsRunning) {
  std::string node = apply_and_wait_running();
  EXPECT_TRUE(node == "qemu-a" || node == "qemu-b") << node;  // the mock pool is not selected
  EXPECT_TRUE(Cluster::wait_until([&] { return printable_status() == "Running"; }, 10s));
  EXPECT_NE(cluster_->console_log(node, kVmId).find("HAL-GUEST: ready"), std::string::npos);
  auto table = cluster_->halctl({"get", "vm"});
  EXPECT_EQ(table.exit_code, 0);
  EXPECT_TRUE(std::regex_search(table.out, std::regex("testguest\\s+\\S+\\s+Running")))
      << table.out;
}

TEST_F(E2eQemuTest, StopThenStartBootsAFreshGuest) {
  std::string node = apply_and_wait_running();
  auto first_boot = last_heartbeat(cluster_->console_log(node, kVmId)).second;
  int pid = cluster_->qemu_pid(node, kVmId);
  auto stop = cluster_->halctl({"stop", "testguest"});
  ASSERT_EQ(stop.exit_code, 0) << stop.out << stop.err;
  EXPECT_TRUE(Cluster::wait_until([&] { return printable_status() == "Stopped"; }, 60s))
      << printable_status();
  EXPECT_TRUE(Cluster::wait_until([&] { return ::kill(pid, 0) != 0; }, 30s)) << "QEMU still runs";
  EXPECT_TRUE(cluster_->get("vmi", "testguest").is_null());

  auto start = cluster_->halctl({"start", "testguest"});
  ASSERT_EQ(start.exit_code, 0) << start.out << start.err;
  std::string again = wait_vmi_running(60s);
  ASSERT_FALSE(again.empty());
  ASSERT_TRUE(Cluster::wait_until(
      [&] {
        auto beat = last_heartbeat(cluster_->console_log(again, kVmId));
        return beat.first > 0 && beat.second != first_boot;
      },
      60s))
      << "the restarted guest did not boot afresh";
}

TEST_F(E2eQemuTest, PauseFreezesTheGuestAndUnpauseResumesIt) {
  std::string node = apply_and_wait_running();
  ASSERT_EQ(cluster_->halctl({"pause", "testguest"}).exit_code, 0);
  EXPECT_TRUE(Cluster::wait_until([&] { return printable_status() == "Paused"; }, 20s));
  long frozen = last_heartbeat(cluster_->console_log(node, kVmId)).first;
  std::this_thread::sleep_for(3s);
  EXPECT_EQ(last_heartbeat(cluster_->console_log(node, kVmId)).first, frozen)
      << "the guest kept beating while paused";
  ASSERT_EQ(cluster_->halctl({"unpause", "testguest"}).exit_code, 0);
  EXPECT_TRUE(wait_heartbeat_after(node, frozen, 20s)) << "no heartbeat after unpause";
  EXPECT_TRUE(Cluster::wait_until([&] { return printable_status() == "Running"; }, 20s));
}

TEST_F(E2eQemuTest, MigrationKeepsTheGuestRunning) {
  std::string source = apply_and_wait_running();
  auto before = last_heartbeat(cluster_->console_log(source, kVmId));
  auto migrate = cluster_->halctl({"migrate", "testguest", "--wait"}, 180s);
  ASSERT_EQ(migrate.exit_code, 0) << migrate.out << migrate.err;
  std::string target = wait_vmi_running(30s);
  ASSERT_FALSE(target.empty());
  EXPECT_NE(target, source);
  ASSERT_TRUE(wait_heartbeat_after(target, before.first, 30s));
  auto after = last_heartbeat(cluster_->console_log(target, kVmId));
  EXPECT_EQ(after.second, before.second) << "the guest rebooted instead of migrating";
  EXPECT_GT(after.first, before.first);
  auto vmim = cluster_->halctl({"get", "vmim", "-o", "json"});
  EXPECT_NE(vmim.out.find("Succeeded"), std::string::npos) << vmim.out;
}

TEST_F(E2eQemuTest, KilledQemuIsRestartedPerRunStrategyAlways) {
  std::string node = apply_and_wait_running();
  auto first_boot = last_heartbeat(cluster_->console_log(node, kVmId)).second;
  int pid = cluster_->qemu_pid(node, kVmId);
  ASSERT_GT(pid, 1);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  ASSERT_TRUE(Cluster::wait_until(
      [&] {
        auto vmi = cluster_->get("vmi", "testguest");
        if (vmi.is_null() || vmi["status"].value("phase", "") != "Running") return false;
        std::string now = vmi["status"].value("nodeName", "");
        auto beat = last_heartbeat(cluster_->console_log(now, kVmId));
        return beat.first > 0 && beat.second != first_boot;
      },
      90s))
      << "the crashed VM was not restarted";
}

TEST_F(E2eQemuTest, KilledNodeAgentLeavesTheVmRunningAndReadoptsIt) {
  std::string node = apply_and_wait_running();
  int pid = cluster_->qemu_pid(node, kVmId);
  auto before = last_heartbeat(cluster_->console_log(node, kVmId));
  cluster_->kill_node(node);
  ASSERT_TRUE(wait_heartbeat_after(node, before.first + 2, 20s)) << "guest stopped with its agent";
  EXPECT_EQ(::kill(pid, 0), 0) << "QEMU died with its agent";
  cluster_->start_node(node);
  std::this_thread::sleep_for(3s);  // the agent re-registers and reports the re-adopted VM
  EXPECT_EQ(wait_vmi_running(30s), node);
  EXPECT_EQ(cluster_->qemu_pid(node, kVmId), pid);
  auto after = last_heartbeat(cluster_->console_log(node, kVmId));
  EXPECT_EQ(after.second, before.second) << "the guest rebooted";
  // The re-adopted VM is still under control.
  ASSERT_EQ(cluster_->halctl({"pause", "testguest"}).exit_code, 0);
  EXPECT_TRUE(Cluster::wait_until([&] { return printable_status() == "Paused"; }, 20s));
}

TEST_F(E2eQemuTest, ControllerRestartLosesNothing) {
  std::string node = apply_and_wait_running();
  auto vm_before = cluster_->get("vm", "testguest");
  int pid = cluster_->qemu_pid(node, kVmId);
  auto beat = last_heartbeat(cluster_->console_log(node, kVmId));
  cluster_->restart_controller(/*hard=*/true);
  auto vm_after = cluster_->get("vm", "testguest");
  ASSERT_FALSE(vm_after.is_null());
  EXPECT_EQ(vm_after["metadata"]["uid"], vm_before["metadata"]["uid"]);
  EXPECT_EQ(wait_vmi_running(30s), node);
  std::this_thread::sleep_for(3s);  // give a wrong reconcile time to act
  EXPECT_EQ(cluster_->qemu_pid(node, kVmId), pid) << "the VM was restarted";
  EXPECT_EQ(last_heartbeat(cluster_->console_log(node, kVmId)).second, beat.second);
  EXPECT_TRUE(Cluster::wait_until([&] { return printable_status() == "Running"; }, 20s));
}

TEST_F(E2eQemuTest, DrainMovesTheVmByLiveMigration) {
  std::string source = apply_and_wait_running();
  auto before = last_heartbeat(cluster_->console_log(source, kVmId));
  auto drain = cluster_->halctl({"drain", source, "--wait"}, 180s);
  ASSERT_EQ(drain.exit_code, 0) << drain.out << drain.err;
  std::string target = wait_vmi_running(30s);
  EXPECT_NE(target, source);
  ASSERT_TRUE(wait_heartbeat_after(target, before.first, 30s));
  EXPECT_EQ(last_heartbeat(cluster_->console_log(target, kVmId)).second, before.second);
  auto node = cluster_->get("node", source);
  EXPECT_EQ(node["spec"].value("unschedulable", false), true);
}

// A guest whose console is not the serial port (console=tty0) writes nothing there: after the
// agents' --guest-silence-timeout its VMI says so, naming the node and the accelerator, and
// halctl describe shows it; the test guest beside it, which writes, ends without that condition.
TEST_F(E2eQemuTest, SilentGuestIsNamedInItsConditionsAndDescribe) {
  std::string manifest = read_file(HAL_SOURCE_DIR "/examples/manifests/testguest-vm.yaml");
  manifest = std::regex_replace(manifest, std::regex("name: testguest"), "name: silent");
  manifest = std::regex_replace(manifest, std::regex("console=ttyS0"), "console=tty0");
  const std::string path = cluster_->dir() + "/silent-vm.yaml";
  write_file(path, manifest);
  auto applied = cluster_->halctl({"apply", "-f", path});
  ASSERT_EQ(applied.exit_code, 0) << applied.out << applied.err;
  const std::string node = apply_and_wait_running();
  nlohmann::json condition;
  ASSERT_TRUE(Cluster::wait_until(
      [&] {
        auto vmi = cluster_->get("vmi", "silent");
        for (const auto &c : vmi.is_null() ? nlohmann::json::array()
                                           : vmi["status"].value("conditions", nlohmann::json()))
          if (c.value("type", "") == "GuestConsoleSilent") condition = c;
        return !condition.is_null();
      },
      60s))
      << cluster_->get("vmi", "silent").dump();
  EXPECT_EQ(condition.value("status", ""), "True");
  EXPECT_EQ(condition.value("reason", ""), "NoConsoleOutput");
  const std::string message = condition.value("message", "");
  const std::string silent_node = cluster_->get("vmi", "silent")["status"].value("nodeName", "");
  EXPECT_NE(message.find("no serial console output"), std::string::npos) << message;
  EXPECT_NE(message.find("on node " + silent_node), std::string::npos) << message;
  EXPECT_NE(message.find("accelerator tcg"), std::string::npos) << message;
  auto describe = cluster_->halctl({"describe", "vmi", "silent"});
  EXPECT_EQ(describe.exit_code, 0) << describe.err;
  EXPECT_NE(describe.out.find("GuestConsoleSilent"), std::string::npos) << describe.out;
  EXPECT_NE(describe.out.find("no serial console output"), std::string::npos) << describe.out;
  // The test guest writes: after its heartbeat its condition goes within the agent's recheck (on
  // a busy machine its boot may outlast the timeout, and its output then clears the condition).
  ASSERT_TRUE(wait_heartbeat_after(node, 0, 120s)) << "no guest heartbeat on " << node;
  auto testguest_silent = [&] {
    for (const auto &c :
         cluster_->get("vmi", "testguest")["status"].value("conditions", nlohmann::json::array()))
      if (c.value("type", "") == "GuestConsoleSilent") return true;
    return false;
  };
  EXPECT_TRUE(Cluster::wait_until([&] { return !testguest_silent(); }, 30s))
      << cluster_->get("vmi", "testguest").dump() << " on " << node;
}

TEST_F(E2eQemuTest, MockPoolRunsItsOwnVm) {
  auto applied =
      cluster_->halctl({"apply", "-f", HAL_SOURCE_DIR "/examples/manifests/mock-vm.yaml"});
  ASSERT_EQ(applied.exit_code, 0) << applied.out << applied.err;
  ASSERT_TRUE(Cluster::wait_until(
      [&] {
        auto vmi = cluster_->get("vmi", "mock-small");
        return !vmi.is_null() && vmi["status"].value("phase", "") == "Running" &&
               vmi["status"].value("nodeName", "") == "mock-a";
      },
      30s));
}

}  // namespace
}  // namespace hal::e2e
