// api_contract_test.cc - the REST client and process supervisor against a VMM: the state machine
// and HTTP status codes of the contract, strict request validation, and event-monitor output.
// Runs against hal-ch-emulator always, and against a real cloud-hypervisor booting the test guest
// when HAL_CH_BINARY names one and this host's KVM runs stock guests (tests/real_binary.h; that
// variant says why it is skipped otherwise).
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "backends/cloud-hypervisor/ch_version.h"
#include "backends/cloud-hypervisor/event_monitor.h"
#include "backends/cloud-hypervisor/rest_client.h"
#include "backends/cloud-hypervisor/tests/real_binary.h"
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
    if (GetParam() == "emulator") {
      binary_ = HAL_CH_EMULATOR;
    } else {
      std::string why;
      auto real = testing::real_binary(&why);
      if (!real) GTEST_SKIP() << "real cloud-hypervisor variant skipped: " << why;
      binary_ = real->binary;
      guest_dir_ = real->guest_dir;
    }
    tmp_ = std::make_unique<hal::testing::TempDir>("hal-ch-test-");
    root_ = tmp_->path();
    dir_ = std::make_unique<VmStateDir>(root_ / "vm");
    dir_->create();
    spawn();
  }
  // Starts the VMM (again) in the state dir and waits for its API.
  void spawn() {
    process_ = SupervisedProcess::spawn(vmm_argv(binary_, *dir_, false), dir_->stderr_log(),
                                        dir_->pidfile(), nullptr);
    api_ = std::make_unique<ChApiClient>(dir_->api_socket().string());
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    ASSERT_TRUE(api_->ping_until_served([&] {
      return process_->exited() || std::chrono::steady_clock::now() > deadline;
    })) << "the VMM did not serve its API: "
        << backend_common::read_tail(dir_->stderr_log(), 2000);
  }
  // Restarts the emulator as Cloud Hypervisor `release` ("52.0.0").
  void respawn_emulator_as(const std::string &release) {
    process_->send_signal(SIGKILL);
    process_->wait_exit(5s);
    ::setenv("HAL_CH_EMULATOR_VERSION", release.c_str(), 1);
    spawn();
    ::unsetenv("HAL_CH_EMULATOR_VERSION");
  }
  void TearDown() override {
    if (process_) {
      process_->send_signal(SIGKILL);
      process_->wait_exit(5s);
    }
    process_.reset();
    tmp_.reset();
  }
  // A VmConfig that boots: any readable file for the emulator, the test guest's kernel and
  // initramfs for a real VMM.
  json config() const {
    if (guest_dir_.empty()) {
      return {{"payload", {{"kernel", "/proc/self/exe"}}},
              {"cpus", {{"boot_vcpus", 1}, {"max_vcpus", 1}}},
              {"memory", {{"size", 64 << 20}}}};
    }
    return {{"payload",
             {{"kernel", guest_dir_ + "/vmlinuz"},
              {"initramfs", guest_dir_ + "/initrd.img"},
              {"cmdline", "console=ttyS0 quiet"}}},
            {"cpus", {{"boot_vcpus", 1}, {"max_vcpus", 1}}},
            {"memory", {{"size", 256 << 20}}}};
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
  std::string guest_dir_;  // the real variant's test guest
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
  EXPECT_EQ(status_of([&] { api_->reboot(); }), HAL_NOT_FOUND) << "reboot before create";
  EXPECT_EQ(status_of([&] { api_->remove(); }), HAL_OK) << "delete without a VM";
  api_->create(config());
  EXPECT_EQ(api_->info()["state"], "Created");
  EXPECT_EQ(status_of([&] { api_->create(config()); }), HAL_FAILED_PRECONDITION)
      << "a second create: " << last_message_;
  EXPECT_EQ(status_of([&] { api_->pause(); }), HAL_FAILED_PRECONDITION) << "pause of Created";
  EXPECT_NE(last_message_.find("HTTP 500"), std::string::npos) << last_message_;
  EXPECT_NE(last_message_.find("VM is not running"), std::string::npos) << last_message_;
  EXPECT_EQ(status_of([&] { api_->power_button(); }), HAL_FAILED_PRECONDITION);
  api_->boot();
  EXPECT_EQ(api_->info()["state"], "Running");
  EXPECT_EQ(status_of([&] { api_->boot(); }), HAL_FAILED_PRECONDITION) << "boot of Running";
  EXPECT_EQ(status_of([&] { api_->resume(); }), HAL_FAILED_PRECONDITION) << "resume of Running";
  EXPECT_NE(last_message_.find("HTTP 500"), std::string::npos) << last_message_;
  api_->pause();
  EXPECT_EQ(api_->info()["state"], "Paused");
  EXPECT_EQ(status_of([&] { api_->pause(); }), HAL_FAILED_PRECONDITION) << "pause of Paused";
  api_->resume();
  api_->shutdown();
  // The VM is gone, its config stays: vm.info says Created, and it boots again.
  EXPECT_EQ(api_->info()["state"], "Created");
  EXPECT_EQ(status_of([&] { api_->shutdown(); }), HAL_FAILED_PRECONDITION) << "shutdown twice";
  api_->boot();
  EXPECT_EQ(api_->info()["state"], "Running");
  api_->remove();
  EXPECT_EQ(status_of([&] { api_->info(); }), HAL_NOT_FOUND);
}

TEST_P(VmmFixture, TheHttpLayerNeverAnswers405) {
  EXPECT_EQ(api_->call("GET", "vm.boot").status, 400) << "wrong method";
  EXPECT_EQ(api_->call("PUT", "vm.info").status, 400) << "wrong method";
  EXPECT_EQ(api_->call("PUT", "vm.boot", "{}").status, 400) << "a body where none is taken";
  EXPECT_EQ(api_->call("PUT", "vm.create").status, 400) << "no body where one is needed";
  EXPECT_EQ(api_->call("GET", "vm.no-such-thing").status, 404);
}

TEST_P(VmmFixture, VmmShutdownAnswers200AndExits) {
  HttpReply reply = api_->call("PUT", "vmm.shutdown");
  EXPECT_EQ(reply.status, 200);
  EXPECT_TRUE(process_->wait_exit(5s));
}

TEST_P(VmmFixture, ConfigsAreValidatedAtBootNotAtCreate) {
  json bad = config();
  bad["memory"] = {{"size", 0}, {"zones", {{{"id", "z0"}, {"size", 64 << 20}}}}};
  bad["numa"] = {{{"guest_numa_id", 0}, {"memory_zones", {"missing"}}}};
  EXPECT_EQ(status_of([&] { api_->create(bad); }), HAL_OK) << last_message_;
  EXPECT_EQ(api_->info()["state"], "Created");
  EXPECT_EQ(status_of([&] { api_->boot(); }), HAL_INVALID_ARGUMENT);
  EXPECT_NE(last_message_.find("HTTP 500"), std::string::npos) << last_message_;
  EXPECT_NE(last_message_.find("Failed to validate config"), std::string::npos) << last_message_;
  EXPECT_NE(last_message_.find("missing"), std::string::npos) << last_message_;
  EXPECT_EQ(api_->info()["state"], "Created") << "nothing was booted";
  HttpReply reply = api_->call("PUT", "vm.create", "{not json");
  EXPECT_EQ(reply.status, 400);
}

TEST_P(VmmFixture, AtMostTwoThreadsPerCore) {
  json c = config();
  c["cpus"] = {
      {"boot_vcpus", 3},
      {"max_vcpus", 3},
      {"topology",
       {{"threads_per_core", 3}, {"cores_per_die", 1}, {"dies_per_package", 1}, {"packages", 1}}}};
  api_->create(c);
  EXPECT_EQ(status_of([&] { api_->boot(); }), HAL_INVALID_ARGUMENT);
  EXPECT_NE(last_message_.find("at most 2 threads per core"), std::string::npos) << last_message_;
}

TEST_P(VmmFixture, ANicsTapMustBeATap) {
  json c = config();
  c["net"] = {{{"id", "n0"}, {"tap", "lo"}}};  // exists, and is not a tap
  api_->create(c);
  EXPECT_EQ(status_of([&] { api_->boot(); }), HAL_UNKNOWN);
  EXPECT_NE(last_message_.find("tap"), std::string::npos) << last_message_;
}

TEST_P(VmmFixture, ImageTypeIsCheckedAgainstTheFileAtBoot) {
  const fs::path qcow2 = root_ / "disk.qcow2";
  {
    std::ofstream out(qcow2, std::ios::binary);
    const char header[16] = {'Q', 'F', 'I', '\xfb', 0, 0, 0, 3};
    out.write(header, sizeof header);
  }
  json c = config();
  c["disks"] = {{{"id", "d0"}, {"path", qcow2.string()}, {"image_type", "Raw"}}};
  EXPECT_EQ(status_of([&] { api_->create(c); }), HAL_OK) << "not checked at create";
  EXPECT_EQ(status_of([&] { api_->boot(); }), HAL_UNKNOWN);
  EXPECT_NE(last_message_.find("does not match"), std::string::npos) << last_message_;
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
  api_->add_disk({{"id", "hot"}, {"path", "/proc/self/exe"}, {"readonly", true}});
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
  // Events the VMM never emits.
  for (const char *never : {"vm/created", "vm/power-button", "vm/device-added"}) {
    EXPECT_EQ(std::find(seen.begin(), seen.end(), never), seen.end()) << never;
  }
}

// Binds a unix socket at `path` and closes it: the file stays, as a crashed VMM leaves it.
void leave_stale_socket(const fs::path &path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr), 0);
  ::close(fd);
}

// Connects to the unix socket at `path`; -1 on failure.
int connect_unix(const fs::path &path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (::connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// What arrives on `fd` within `wait` ("" when nothing; stops early at EOF).
std::string read_for(int fd, std::chrono::milliseconds wait, bool *eof = nullptr) {
  std::string out;
  const auto until = std::chrono::steady_clock::now() + wait;
  while (std::chrono::steady_clock::now() < until) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0) continue;
    char buffer[4096];
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n <= 0) {
      if (eof != nullptr) *eof = true;
      break;
    }
    out.append(buffer, static_cast<size_t>(n));
  }
  return out;
}

TEST_P(VmmFixture, ALeftoverSerialSocketIsAddressInUse) {
  const fs::path serial = root_ / "serial.sock";
  leave_stale_socket(serial);
  json c = config();
  c["serial"] = {{"mode", "Socket"}, {"socket", serial.string()}};
  EXPECT_EQ(status_of([&] { api_->create(c); }), HAL_UNKNOWN);
  EXPECT_NE(last_message_.find("HTTP 500"), std::string::npos) << last_message_;
  EXPECT_NE(last_message_.find("in use"), std::string::npos) << last_message_;
}

TEST_P(VmmFixture, TheSerialSocketGoesOnlyWithACleanShutdown) {
  const fs::path serial = root_ / "serial.sock";
  json c = config();
  c["serial"] = {{"mode", "Socket"}, {"socket", serial.string()}};
  api_->create(c);
  EXPECT_TRUE(fs::exists(serial)) << "bound at vm.create";
  api_->boot();
  api_->shutdown();
  EXPECT_FALSE(fs::exists(serial)) << "removed when the VM is shut down";
  api_->boot();
  EXPECT_TRUE(fs::exists(serial)) << "bound again at boot";
  process_->send_signal(SIGKILL);
  ASSERT_TRUE(process_->wait_exit(5s));
  EXPECT_TRUE(fs::exists(serial)) << "a killed VMM leaves its socket file";
}

TEST_P(VmmFixture, TheSerialSocketServesOneClientAtATime) {
  const fs::path serial = root_ / "serial.sock";
  json c = config();
  c["serial"] = {{"mode", "Socket"}, {"socket", serial.string()}};
  api_->create(c);
  api_->boot();
  int first = connect_unix(serial);
  ASSERT_GE(first, 0);
  read_for(first, 100ms);
  int second = connect_unix(serial);
  ASSERT_GE(second, 0);
  bool eof = false;
  read_for(first, 2s, &eof);
  EXPECT_TRUE(eof) << "a new client shuts the previous one out";
  ::close(first);
  ::close(second);
}

// Serial output made while nobody listens: lost up to v52, kept (1 MiB) for the next client only
// from v53.0. The emulator at both releases (the real binary is one release: not checked here).
TEST_P(VmmFixture, SerialOutputWhileNobodyListensByRelease) {
  if (GetParam() != "emulator") GTEST_SKIP() << "checks the emulator at two releases";
  const fs::path serial = root_ / "serial.sock";
  json c = config();
  c["serial"] = {{"mode", "Socket"}, {"socket", serial.string()}};
  for (const std::string release : {"52.0.0", "53.0.0"}) {
    respawn_emulator_as(release);
    std::error_code ec;
    fs::remove(serial, ec);  // left by the killed VMM
    api_->create(c);
    api_->boot();
    std::this_thread::sleep_for(300ms);  // the guest boots and prints with nobody connected
    int first = connect_unix(serial);
    ASSERT_GE(first, 0);
    const std::string got = read_for(first, 300ms);
    ::close(first);
    std::this_thread::sleep_for(100ms);
    int second = connect_unix(serial);
    ASSERT_GE(second, 0);
    const std::string again = read_for(second, 300ms);
    ::close(second);
    if (release == "52.0.0") {
      EXPECT_EQ(got.find("HAL-GUEST: ready"), std::string::npos) << "v52 drops it:\n" << got;
    } else {
      EXPECT_NE(got.find("HAL-GUEST: ready"), std::string::npos) << "v53 keeps it:\n" << got;
    }
    EXPECT_EQ(again.find("HAL-GUEST: ready"), std::string::npos) << "never replayed:\n" << again;
    EXPECT_NE(again.find("heartbeat"), std::string::npos) << "live output goes on:\n" << again;
  }
}

INSTANTIATE_TEST_SUITE_P(Binary, VmmFixture, ::testing::Values("emulator", "real"),
                         [](const auto &info) { return info.param; });

}  // namespace
}  // namespace hal::cloud_hypervisor
