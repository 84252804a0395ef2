// api_contract_test.cc - the REST client and process supervisor against a VMM: the state machine
// and HTTP status codes of the contract, strict request validation, and event-monitor output.
// Runs against hal-ch-emulator always, and against a real cloud-hypervisor when HAL_CH_BINARY
// names one and /dev/kvm is usable (that suite says why it is skipped otherwise).
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "backends/cloud-hypervisor/ch_version.h"
#include "backends/cloud-hypervisor/event_monitor.h"
#include "backends/cloud-hypervisor/rest_client.h"
#include "backends/cloud-hypervisor/vm_state_dir.h"
#include "backends/cloud-hypervisor/vmm_argv.h"
#include "backends/common/resolve_binary.h"
#include "backends/common/state_files.h"
#include "backends/common/supervised_process.h"
#include "hal/plugin.hpp"
#include "testing/temp_dir.h"

namespace hal::cloud_hypervisor {
namespace {
namespace fs = std::filesystem;
using backend_common::SupervisedProcess;
using nlohmann::json;
using namespace std::chrono_literals;

/** One VMM process in a temp state dir; killed by its pid and removed at the end. */
class VmmFixture : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    binary_ = GetParam() == "emulator" ? std::string(HAL_CH_EMULATOR) : real_binary();
    if (binary_.empty()) {
      GTEST_SKIP() << "real cloud-hypervisor variant skipped: set HAL_CH_BINARY to a "
                      "cloud-hypervisor binary on a host with a usable /dev/kvm";
    }
    tmp_ = std::make_unique<hal::testing::TempDir>("hal-ch-test-");
    root_ = tmp_->path();
    dir_ = std::make_unique<VmStateDir>(root_ / "vm");
    dir_->create();
    process_ = SupervisedProcess::spawn(vmm_argv(binary_, *dir_, false), dir_->stderr_log(),
                                        dir_->pidfile(), nullptr);
    api_ = std::make_unique<ChApiClient>(dir_->api_socket().string());
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    ASSERT_TRUE(api_->ping_until_served([&] {
      return process_->exited() || std::chrono::steady_clock::now() > deadline;
    })) << "the VMM did not serve its API: "
        << backend_common::read_tail(dir_->stderr_log(), 2000);
  }
  void TearDown() override {
    if (process_) {
      process_->send_signal(SIGKILL);
      process_->wait_exit(5s);
    }
    process_.reset();
    tmp_.reset();
  }
  static std::string real_binary() {
    const char *env = std::getenv("HAL_CH_BINARY");
    if (env == nullptr || ::access("/dev/kvm", R_OK | W_OK) != 0) return "";
    return backend_common::resolve_binary(env);
  }
  json config() const {
    return {{"payload", {{"kernel", "/proc/self/exe"}}},
            {"cpus", {{"boot_vcpus", 1}, {"max_vcpus", 1}}},
            {"memory", {{"size", 64 << 20}}}};
  }
  hal_status status_of(const std::function<void()> &fn) {
    try {
      fn();
      return HAL_OK;
    } catch (const hal::plugin::Failure &f) {
      last_message_ = f.what();
      return f.status;
    }
  }

  std::string binary_;
  std::unique_ptr<hal::testing::TempDir> tmp_;
  fs::path root_;
  std::unique_ptr<VmStateDir> dir_;
  std::unique_ptr<SupervisedProcess> process_;
  std::unique_ptr<ChApiClient> api_;
  std::string last_message_;
};

TEST_P(VmmFixture, PingAnswersVersion) {
  json ping = api_->ping();
  auto release = parse_ch_version(ping.value("version", ""), ping.value("build_version", ""));
  ASSERT_TRUE(release.has_value()) << ping.dump();
  EXPECT_GE(*release, kOldestSupported) << ping.dump();
}

TEST_P(VmmFixture, StateMachineAndStatusCodes) {
  EXPECT_EQ(status_of([&] { api_->boot(); }), HAL_NOT_FOUND) << "boot before create";
  EXPECT_EQ(status_of([&] { api_->info(); }), HAL_NOT_FOUND);
  api_->create(config());
  EXPECT_EQ(api_->info()["state"], "Created");
  EXPECT_EQ(status_of([&] { api_->pause(); }), HAL_FAILED_PRECONDITION) << "pause of Created";
  api_->boot();
  EXPECT_EQ(api_->info()["state"], "Running");
  EXPECT_EQ(status_of([&] { api_->resume(); }), HAL_FAILED_PRECONDITION) << "resume of Running";
  api_->pause();
  EXPECT_EQ(api_->info()["state"], "Paused");
  EXPECT_EQ(status_of([&] { api_->pause(); }), HAL_FAILED_PRECONDITION) << "pause of Paused";
  api_->resume();
  api_->shutdown();
  EXPECT_EQ(api_->info()["state"], "Shutdown");
  api_->remove();
  EXPECT_EQ(status_of([&] { api_->info(); }), HAL_NOT_FOUND);
}

TEST_P(VmmFixture, WrongConfigsAreRefusedWithTheVmmsMessage) {
  json bad = config();
  bad["memory"] = {{"size", 0}, {"zones", {{{"id", "z0"}, {"size", 64 << 20}}}}};
  bad["numa"] = {{{"guest_numa_id", 0}, {"memory_zones", {"missing"}}}};
  EXPECT_EQ(status_of([&] { api_->create(bad); }), HAL_INVALID_ARGUMENT);
  EXPECT_NE(last_message_.find("missing"), std::string::npos) << last_message_;
  EXPECT_EQ(status_of([&] { api_->info(); }), HAL_NOT_FOUND) << "nothing was created";
  HttpReply reply = api_->call("PUT", "vm.create", "{not json");
  EXPECT_EQ(reply.status, 400);
}

TEST_P(VmmFixture, HotplugAndDuplicateIds) {
  api_->create(config());
  api_->boot();
  json info = api_->add_disk({{"id", "d1"}, {"path", "/proc/self/exe"}, {"readonly", true}});
  EXPECT_EQ(info.value("id", ""), "d1");
  EXPECT_EQ(status_of([&] {
              api_->add_disk({{"id", "d1"}, {"path", "/proc/self/exe"}});
            }),
            HAL_ALREADY_EXISTS);
  api_->remove_device("d1");
  EXPECT_EQ(status_of([&] { api_->remove_device("d1"); }), HAL_NOT_FOUND);
}

TEST_P(VmmFixture, EventMonitorReportsLifecycle) {
  std::mutex m;
  std::vector<std::string> seen;
  EventMonitorReader reader(dir_->event_file(), 0, [&](const ChEvent &e) {
    std::lock_guard<std::mutex> lock(m);
    seen.push_back(e.source + "/" + e.event);
  });
  api_->create(config());
  api_->boot();
  api_->pause();
  api_->resume();
  for (int i = 0; i < 200; ++i) {
    {
      std::lock_guard<std::mutex> lock(m);
      if (std::find(seen.begin(), seen.end(), "vm/resumed") != seen.end()) break;
    }
    std::this_thread::sleep_for(10ms);
  }
  std::lock_guard<std::mutex> lock(m);
  for (const char *want : {"vm/booted", "vm/paused", "vm/resumed"}) {
    EXPECT_NE(std::find(seen.begin(), seen.end(), want), seen.end()) << want;
  }
}

INSTANTIATE_TEST_SUITE_P(Binary, VmmFixture, ::testing::Values("emulator", "real"),
                         [](const auto &info) { return info.param; });

}  // namespace
}  // namespace hal::cloud_hypervisor
