// process_identity_test.cc - the /proc/PID/cmdline checks a backend makes before re-adopting.
#include "backends/common/process_identity.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "backends/common/spawn.h"
#include "backends/common/state_files.h"
#include "testing/process_guard.h"
#include "testing/temp_dir.h"

namespace hal::backend_common {
namespace {

TEST(ProcessIdentity, CmdlineOfALiveProcess) {
  testing::TempDir tmp;
  // sleep sums its arguments and, like strtod, skips the leading blank: " 0.5" is one argument.
  const pid_t pid = spawn_process({"sleep", "30", " 0.5"}, tmp.path() / "log");
  // posix_spawn returns while the child's execve() is still setting up its argv: the cmdline is
  // empty for that moment (is_our_process reads it again; see the next tests).
  std::vector<std::string> args = process_cmdline(pid);
  for (int i = 0; i < 100 && args.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    args = process_cmdline(pid);
  }
  EXPECT_EQ(args, (std::vector<std::string>{"sleep", "30", " 0.5"}));
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  EXPECT_TRUE(process_cmdline(pid).empty());
}

TEST(ProcessIdentity, IsOurProcessChecksBinaryAndMarker) {
  testing::TempDir tmp;
  // sleep sums its arguments: the second one plays the marker (the QMP socket path for QEMU).
  const pid_t pid = spawn_process({"sleep", "30", "0.0123"}, tmp.path() / "log");
  testing::ProcessGuard guard(pid);
  EXPECT_TRUE(is_our_process(pid, "/usr/bin/sleep", "0.0123"));
  EXPECT_FALSE(is_our_process(pid, "qemu-system-x86_64", "0.0123"));
  EXPECT_FALSE(is_our_process(pid, "sleep", "/other.sock"));
  EXPECT_FALSE(is_our_process(999999, "sleep", "0.0123"));
  EXPECT_FALSE(is_our_process(1, "sleep", "0.0123"));
}

TEST(ProcessIdentity, ProcessesCheckedRightAfterTheSpawnAreOurs) {
  // posix_spawn returns while the child's execve() may not yet show its new argv: without reading
  // the empty cmdline again, some of these checks would answer false.
  testing::TempDir tmp;
  for (int i = 0; i < 50; ++i) {
    const pid_t pid = spawn_process({"sleep", "30", "0.0123"}, tmp.path() / "log");
    testing::ProcessGuard guard(pid);
    EXPECT_TRUE(is_our_process(pid, "sleep", "0.0123")) << "spawn " << i;
  }
}

TEST(ProcessIdentity, APidNowRunningAnotherProgramIsNotOurs) {
  // The pid recorded for "sh ... 0.0123" now runs sleep (as a reused pid would): same pid, but
  // neither the binary nor the marker matches any more.
  testing::TempDir tmp;
  const pid_t pid =
      spawn_process({"sh", "-c", "exec sleep 30", "sh", "0.0123"}, tmp.path() / "log");
  testing::ProcessGuard guard(pid);
  std::vector<std::string> args;
  for (int i = 0; i < 1000 && (args.empty() || args[0] != "sleep"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    args = process_cmdline(pid);
  }
  ASSERT_EQ(args, (std::vector<std::string>{"sleep", "30"}));
  EXPECT_FALSE(is_our_process(pid, "sh", "0.0123"));
  EXPECT_FALSE(is_our_process(pid, "sleep", "0.0123"));
}

TEST(ProcessIdentity, AZombieIsNotOurs) {
  testing::TempDir tmp;
  const pid_t pid = spawn_process({"sleep", "30", "0.0123"}, tmp.path() / "log");
  ::kill(pid, SIGKILL);
  siginfo_t info{};
  ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT), 0);
  // Still there (kill(pid, 0) succeeds) but with an empty cmdline, past the retries.
  EXPECT_EQ(::kill(pid, 0), 0);
  EXPECT_FALSE(is_our_process(pid, "sleep", "0.0123"));
  ::waitpid(pid, nullptr, 0);
}

TEST(FindProcess, NoPidfileGoneOrOurs) {
  testing::TempDir tmp;
  const StateDir dir(tmp.path() / "vm", {"hv.pid", "hv.log"});
  dir.create();
  EXPECT_EQ(find_process(dir, "sleep", "0.0123").kind, FoundProcess::Kind::kNone);

  const pid_t pid = spawn_process({"sleep", "30", "0.0123"}, dir.stderr_log());
  testing::ProcessGuard guard(pid);
  write_pid_file(dir.pidfile(), pid);
  const FoundProcess ours = find_process(dir, "sleep", "0.0123");
  EXPECT_EQ(ours.kind, FoundProcess::Kind::kOurs);
  EXPECT_EQ(ours.pid, pid);
  EXPECT_EQ(dir.read_pid(), pid);

  // The same live process under another VM's marker is not this VM's: its pidfile goes.
  const FoundProcess gone = find_process(dir, "sleep", "/other/qmp.sock");
  EXPECT_EQ(gone.kind, FoundProcess::Kind::kGone);
  EXPECT_EQ(gone.pid, pid);
  EXPECT_FALSE(dir.read_pid());
  EXPECT_EQ(find_process(dir, "sleep", "0.0123").kind, FoundProcess::Kind::kNone);
}

}  // namespace
}  // namespace hal::backend_common
