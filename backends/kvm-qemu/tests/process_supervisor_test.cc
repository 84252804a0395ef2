// process_supervisor_test.cc - unit tests of state dirs, spawning, exit detection and adoption
// checks, using ordinary processes (/bin/sh scripts via argv, /bin/sleep) instead of QEMU.
#include "backends/kvm-qemu/process_supervisor.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>

namespace hal::kvm_qemu {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class ProcessSupervisorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char templ[] = "/tmp/hal-kvmq-sup-XXXXXX";
    ASSERT_NE(::mkdtemp(templ), nullptr);
    root_ = templ;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  fs::path root_;
};

TEST_F(ProcessSupervisorTest, StateDirIsPrivateAndFilesAreAtomic) {
  VmStateDir dir(root_ / "nested", "vm1");
  dir.create();
  struct stat st {};
  ASSERT_EQ(::stat(dir.dir().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  VmStateDir::write_file(dir.spec_file(), "{}");
  ASSERT_EQ(::stat(dir.spec_file().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(VmStateDir::read_file(dir.spec_file()), "{}");
  EXPECT_FALSE(dir.read_pid());
  VmStateDir::write_file(dir.pidfile(), "1234\n");
  EXPECT_EQ(dir.read_pid(), 1234);
  dir.remove();
  EXPECT_FALSE(dir.exists());
}

TEST_F(ProcessSupervisorTest, SpawnCapturesStderrAndReportsExitStatus) {
  VmStateDir dir(root_, "vm");
  dir.create();
  std::atomic<int> calls{0};
  auto process = QemuProcess::spawn({"sh", "-c", "echo boom >&2; exit 3"}, dir.stderr_log(),
                                    dir.pidfile(), [&](const ExitInfo &) { ++calls; });
  ASSERT_TRUE(process->wait_exit(10s));
  EXPECT_EQ(calls.load(), 1);
  ExitInfo info = process->exit_info();
  EXPECT_TRUE(info.status_known);
  EXPECT_EQ(info.describe(), "exited with status 3");
  EXPECT_EQ(read_tail(dir.stderr_log(), 100), "boom\n");
  EXPECT_EQ(dir.read_pid(), process->pid());
}

TEST_F(ProcessSupervisorTest, OwnProcessGroupAndSignalDescription) {
  VmStateDir dir(root_, "vm");
  dir.create();
  auto process = QemuProcess::spawn({"sleep", "30"}, dir.stderr_log(), dir.pidfile(), nullptr);
  EXPECT_EQ(::getpgid(process->pid()), process->pid());
  EXPECT_FALSE(process->wait_exit(50ms));
  process->send_signal(SIGKILL);
  ASSERT_TRUE(process->wait_exit(10s));
  EXPECT_NE(process->exit_info().describe().find("signal 9"), std::string::npos);
}

TEST_F(ProcessSupervisorTest, SpawnOfMissingBinaryThrows) {
  VmStateDir dir(root_, "vm");
  dir.create();
  EXPECT_THROW(QemuProcess::spawn({"/nonexistent/qemu"}, dir.stderr_log(), dir.pidfile(), nullptr),
               std::system_error);
}

TEST_F(ProcessSupervisorTest, DestroyingTheWatcherLeavesTheProcessAlive) {
  VmStateDir dir(root_, "vm");
  dir.create();
  pid_t pid;
  {
    auto process = QemuProcess::spawn({"sleep", "30"}, dir.stderr_log(), dir.pidfile(), nullptr);
    pid = process->pid();
  }
  EXPECT_EQ(::kill(pid, 0), 0);
  // Adopt it again, then kill it: the exit is seen (and reaped: it is still our child).
  std::atomic<bool> seen{false};
  auto adopted = QemuProcess::adopt(pid, [&](const ExitInfo &) { seen = true; });
  ::kill(pid, SIGKILL);
  ASSERT_TRUE(adopted->wait_exit(10s));
  EXPECT_TRUE(seen.load());
  EXPECT_TRUE(adopted->exit_info().status_known);
}

TEST_F(ProcessSupervisorTest, IsOurQemuChecksBinaryAndMarker) {
  VmStateDir dir(root_, "vm");
  dir.create();
  // sleep sums its arguments: the second one plays the marker (the QMP socket path for QEMU).
  auto process =
      QemuProcess::spawn({"sleep", "30", "0.0123"}, dir.stderr_log(), dir.pidfile(), nullptr);
  EXPECT_TRUE(is_our_qemu(process->pid(), "/usr/bin/sleep", "0.0123"));
  EXPECT_FALSE(is_our_qemu(process->pid(), "qemu-system-x86_64", "0.0123"));
  EXPECT_FALSE(is_our_qemu(process->pid(), "sleep", "/other.sock"));
  EXPECT_FALSE(is_our_qemu(999999, "sleep", "0.0123"));
  process->send_signal(SIGKILL);
  ASSERT_TRUE(process->wait_exit(10s));
}

TEST(DefaultStateRoot, RootUsesRun) {
  if (::geteuid() == 0) {
    EXPECT_EQ(default_state_root(), "/run/hal/kvm-qemu");
  } else {
    EXPECT_NE(default_state_root().string().find("hal/kvm-qemu"), std::string::npos);
  }
}

}  // namespace
}  // namespace hal::kvm_qemu
