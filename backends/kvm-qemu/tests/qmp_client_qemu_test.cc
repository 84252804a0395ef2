// QmpClient integration test against a real qemu-system-x86_64 (TCG, paused, no guest).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <condition_variable>
#include <mutex>
#include <vector>

#include "backends/kvm-qemu/qmp_client.h"
#include "testing/bare_qemu.h"

namespace hal::kvm_qemu {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

// Collects event names seen by a subscription.
class EventLog {
 public:
  void Add(const std::string &name) {
    std::lock_guard lock(mu_);
    names_.push_back(name);
    cv_.notify_all();
  }
  bool WaitFor(const std::string &name, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] {
      return std::find(names_.begin(), names_.end(), name) != names_.end();
    });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> names_;
};

TEST(QmpClientQemu, HandshakeQueryContStopQuit) {
  std::string qemu = hal::testing::find_qemu_binary();
  if (qemu.empty()) GTEST_SKIP() << "qemu-system-x86_64 not found";
  std::string dir;
  {
    hal::testing::BareQemu proc(qemu, {"-S", "-accel", "tcg", "-machine", "q35", "-nodefaults",
                                       "-display", "none", "-smp", "2", "-m", "128"});
    QmpClient::Options options;
    options.connect_timeout = 20s;
    std::unique_ptr<QmpClient> client;
    ASSERT_NO_THROW(client = QmpClient::connect(proc.qmp_path(), options)) << proc.log();
    dir = proc.qmp_path().substr(0, proc.qmp_path().rfind('/'));
    EXPECT_THAT(client->qemu_version(), ::testing::StartsWith("7."));

    EventLog events;
    client->subscribe("STOP", [&](const QmpEvent &e) { events.Add(e.name); });
    client->subscribe("RESUME", [&](const QmpEvent &e) { events.Add(e.name); });

    json status = client->execute("query-status");
    EXPECT_EQ(status["status"], "prelaunch");
    EXPECT_EQ(status["running"], false);

    json cpus = client->execute("query-cpus-fast");
    ASSERT_TRUE(cpus.is_array());
    EXPECT_EQ(cpus.size(), 2u);
    EXPECT_EQ(cpus[0]["target"], "x86_64");

    client->execute("cont");
    EXPECT_TRUE(events.WaitFor("RESUME", 10s));
    EXPECT_EQ(client->execute("query-status")["status"], "running");

    client->execute("stop");
    EXPECT_TRUE(events.WaitFor("STOP", 10s));
    EXPECT_EQ(client->execute("query-status")["status"], "paused");

    try {
      client->execute("no-such-command");
      ADD_FAILURE() << "expected QmpCommandError";
    } catch (const QmpCommandError &e) {
      EXPECT_EQ(e.error_class(), "CommandNotFound");
    }

    client->execute("quit");
    EXPECT_TRUE(proc.wait_for_exit(10s)) << proc.log();
    // QEMU hung up: the client notices and fails further commands instead of hanging.
    for (int i = 0; i < 200 && client->connected(); ++i) std::this_thread::sleep_for(10ms);
    EXPECT_FALSE(client->connected());
    EXPECT_THROW(client->execute("query-status", nullptr, 2s), QmpConnectionError);
  }
  struct stat st;
  EXPECT_NE(::stat(dir.c_str(), &st), 0) << "temp dir not removed: " << dir;
}

TEST(QmpClientQemu, StoppedByPidWhenNotQuit) {
  std::string qemu = hal::testing::find_qemu_binary();
  if (qemu.empty()) GTEST_SKIP() << "qemu-system-x86_64 not found";
  hal::testing::BareQemu proc(
      qemu, {"-S", "-accel", "tcg", "-machine", "q35", "-nodefaults", "-display", "none"});
  QmpClient::Options options;
  options.connect_timeout = 20s;
  auto client = QmpClient::connect(proc.qmp_path(), options);
  EXPECT_EQ(client->execute("query-status")["status"], "prelaunch");
  proc.stop();
  EXPECT_TRUE(proc.wait_for_exit(1s));
  EXPECT_THROW(client->execute("query-status", nullptr, 5s), QmpConnectionError);
}

}  // namespace
}  // namespace hal::kvm_qemu
