// supervised_process_test.cc - spawning with a pidfile, exit detection and reaping, adoption, and
// the watcher's life, using ordinary processes (/bin/sh scripts via argv, /bin/sleep).
#include "backends/common/supervised_process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <thread>

#include "backends/common/spawn.h"
#include "backends/common/state_dir.h"
#include "backends/common/state_files.h"
#include "testing/process_guard.h"
#include "testing/temp_dir.h"

namespace hal::backend_common {
namespace {

using namespace std::chrono_literals;

// True in a sanitizer build (HAL_SANITIZE turns on ASan and UBSan together).
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

// The number of threads of this process.
size_t thread_count() {
  size_t count = 0;
  for ([[maybe_unused]] const auto &task : std::filesystem::directory_iterator("/proc/self/task")) {
    ++count;
  }
  return count;
}

class SupervisedProcessTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_.create(); }

  testing::TempDir tmp_;
  StateDir dir_{tmp_.path() / "vm", {"hv.pid", "hv.log"}};
};

TEST_F(SupervisedProcessTest, SpawnCapturesStderrAndReportsExitStatus) {
  std::atomic<int> calls{0};
  auto process = SupervisedProcess::spawn({"sh", "-c", "echo boom >&2; exit 3"}, dir_.stderr_log(),
                                          dir_.pidfile(), [&](const ExitInfo &) { ++calls; });
  ASSERT_TRUE(process->wait_exit(10s));
  EXPECT_EQ(calls.load(), 1);
  ExitInfo info = process->exit_info();
  EXPECT_TRUE(info.status_known);
  EXPECT_EQ(info.describe(), "exited with status 3");
  EXPECT_EQ(read_tail(dir_.stderr_log(), 100), "boom\n");
  EXPECT_EQ(dir_.read_pid(), process->pid());
}

TEST_F(SupervisedProcessTest, OwnProcessGroupAndSignalDescription) {
  auto process =
      SupervisedProcess::spawn({"sleep", "30"}, dir_.stderr_log(), dir_.pidfile(), nullptr);
  testing::ProcessGuard guard(process->pid());
  EXPECT_EQ(::getpgid(process->pid()), process->pid());
  EXPECT_FALSE(process->wait_exit(50ms));
  process->send_signal(SIGKILL);
  ASSERT_TRUE(process->wait_exit(10s));
  EXPECT_NE(process->exit_info().describe().find("signal 9"), std::string::npos);
}

TEST_F(SupervisedProcessTest, SpawnOfMissingBinaryThrowsAndWritesNoPidfile) {
  EXPECT_THROW(
      SupervisedProcess::spawn({"/nonexistent/qemu"}, dir_.stderr_log(), dir_.pidfile(), nullptr),
      std::system_error);
  EXPECT_FALSE(dir_.read_pid());
}

TEST_F(SupervisedProcessTest, UnwritablePidfileKillsAndReapsTheChild) {
  // This test process has no other children: had the spawned sleep been left running (or
  // unreaped), waitpid would find it.
  ASSERT_EQ(::waitpid(-1, nullptr, WNOHANG), -1);
  ASSERT_EQ(errno, ECHILD);
  EXPECT_THROW(SupervisedProcess::spawn({"sleep", "30"}, dir_.stderr_log(),
                                        dir_.dir() / "missing" / "hv.pid", nullptr),
               std::system_error);
  EXPECT_EQ(::waitpid(-1, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
}

TEST_F(SupervisedProcessTest, DestroyingTheWatcherLeavesTheProcessAlive) {
  pid_t pid;
  std::atomic<bool> called{false};
  const size_t threads_before = thread_count();
  {
    auto process = SupervisedProcess::spawn({"sleep", "30"}, dir_.stderr_log(), dir_.pidfile(),
                                            [&](const ExitInfo &) { called = true; });
    pid = process->pid();
  }
  testing::ProcessGuard guard(pid);
  // The watcher thread ended (its task may linger a moment after the join).
  for (int i = 0; i < 100 && thread_count() != threads_before; ++i)
    std::this_thread::sleep_for(10ms);
  EXPECT_EQ(thread_count(), threads_before);
  // Still running: not exited (a zombie would be), so neither killed nor reaped.
  siginfo_t info{};
  ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT), 0);
  EXPECT_EQ(info.si_pid, 0);
  EXPECT_FALSE(called.load());
  // Adopt it again, then kill it: the exit is seen (and reaped: it is still our child).
  std::atomic<bool> seen{false};
  auto adopted = SupervisedProcess::adopt(pid, [&](const ExitInfo &) { seen = true; });
  ::kill(pid, SIGKILL);
  ASSERT_TRUE(adopted->wait_exit(10s));
  EXPECT_TRUE(seen.load());
  EXPECT_TRUE(adopted->exit_info().status_known);
}

TEST_F(SupervisedProcessTest, AdoptedProcessThatIsNotOurChildHasAnUnknownStatus) {
  // sh starts sleep in the background and exits: sleep is not our child.
  auto parent = SupervisedProcess::spawn({"sh", "-c", "sleep 30 & echo $!"}, dir_.stderr_log(),
                                         dir_.pidfile(), nullptr);
  ASSERT_TRUE(parent->wait_exit(10s));
  const std::optional<pid_t> grandchild = read_pid_file(dir_.stderr_log());
  ASSERT_TRUE(grandchild);
  testing::ProcessGuard guard(*grandchild);
  std::atomic<bool> status_known{true};
  auto adopted = SupervisedProcess::adopt(
      *grandchild, [&](const ExitInfo &info) { status_known = info.status_known; });
  adopted->send_signal(SIGKILL);
  ASSERT_TRUE(adopted->wait_exit(10s));
  EXPECT_FALSE(status_known.load());
  EXPECT_FALSE(adopted->exit_info().status_known);
  EXPECT_EQ(adopted->exit_info().describe(), "exited (status unknown: not our child)");
}

TEST_F(SupervisedProcessTest, AdoptingAMissingProcessThrows) {
  EXPECT_THROW(SupervisedProcess::adopt(999999999, nullptr), std::system_error);
}

TEST_F(SupervisedProcessTest, AdoptThrowsAndLeaksNothingWhenTheWakeUpEventfdFails) {
  if (kSanitized) {
    GTEST_SKIP() << "the sanitizers' runtime needs descriptors of its own while the exception is "
                    "built (UBSan's vptr check opens a pipe), which the full table denies it";
  }
  const pid_t pid = spawn_process({"sleep", "30"}, dir_.stderr_log());
  testing::ProcessGuard guard(pid);
  // Room for exactly one more descriptor: the pidfd gets it, the eventfd fails with EMFILE.
  const int lowest_free = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(lowest_free, 0);
  ::close(lowest_free);
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit tight = saved;
  tight.rlim_cur = static_cast<rlim_t>(lowest_free) + 1;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &tight), 0);
  bool threw = false;
  try {
    SupervisedProcess::adopt(pid, nullptr);
  } catch (const std::system_error &e) {
    threw = true;
    EXPECT_EQ(e.code().value(), EMFILE) << e.what();
  }
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
  EXPECT_TRUE(threw);
  // The pidfd was closed, and the process was left alone.
  const int again = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  EXPECT_EQ(again, lowest_free);
  ::close(again);
  siginfo_t info{};
  ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT), 0);
  EXPECT_EQ(info.si_pid, 0);
}

TEST_F(SupervisedProcessTest, KillAfterGraceSigkillsAProcessThatStays) {
  auto process =
      SupervisedProcess::spawn({"sleep", "30"}, dir_.stderr_log(), dir_.pidfile(), nullptr);
  testing::ProcessGuard guard(process->pid());
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(process->kill_after(100ms));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 100ms);
  EXPECT_EQ(WTERMSIG(process->exit_info().wait_status), SIGKILL);
}

TEST_F(SupervisedProcessTest, MayBeDestroyedFromItsOwnExitCallback) {
  std::unique_ptr<SupervisedProcess> process;
  std::atomic<bool> destroyed{false};
  std::mutex mutex;
  {
    std::lock_guard<std::mutex> lock(mutex);
    process = SupervisedProcess::spawn({"sh", "-c", "exit 0"}, dir_.stderr_log(), dir_.pidfile(),
                                       [&](const ExitInfo &) {
                                         std::lock_guard<std::mutex> held(mutex);
                                         process.reset();
                                         destroyed = true;
                                       });
  }
  for (int i = 0; i < 1000 && !destroyed; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(destroyed.load());
}

TEST_F(SupervisedProcessTest, WaitForPathSeesThePathTheProcessCreates) {
  const std::filesystem::path socket = dir_.dir() / "control.sock";
  auto process = SupervisedProcess::spawn(
      {"sh", "-c", "sleep 0.1; touch '" + socket.string() + "'; exec sleep 30"}, dir_.stderr_log(),
      dir_.pidfile(), nullptr);
  testing::ProcessGuard guard(process->pid());
  EXPECT_EQ(process->wait_for_path(socket, 10s), PathWait::kAppeared);
  EXPECT_TRUE(std::filesystem::exists(socket));
  EXPECT_EQ(process->wait_for_path(socket, 0ms), PathWait::kAppeared);
}

TEST_F(SupervisedProcessTest, WaitForPathReturnsAtOnceWhenTheProcessExits) {
  auto process = SupervisedProcess::spawn({"sh", "-c", "sleep 0.1; exit 1"}, dir_.stderr_log(),
                                          dir_.pidfile(), nullptr);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(process->wait_for_path(dir_.dir() / "never", 20s), PathWait::kExited);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  EXPECT_TRUE(process->exited());
}

TEST_F(SupervisedProcessTest, WaitForPathTimesOutWhileTheProcessRuns) {
  auto process =
      SupervisedProcess::spawn({"sleep", "30"}, dir_.stderr_log(), dir_.pidfile(), nullptr);
  testing::ProcessGuard guard(process->pid());
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(process->wait_for_path(dir_.dir() / "never", 100ms), PathWait::kTimedOut);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 100ms);
  EXPECT_FALSE(process->exited());
}

}  // namespace
}  // namespace hal::backend_common
