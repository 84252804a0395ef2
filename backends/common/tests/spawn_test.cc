// spawn_test.cc - spawn_process: argv without a shell, output in an owner-only log, stdin from
// /dev/null, its own process group and a clean signal state, errors as exceptions.
#include "backends/common/spawn.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <iterator>
#include <sstream>
#include <system_error>

#include "backends/common/state_files.h"
#include "testing/process_guard.h"
#include "testing/temp_dir.h"

namespace hal::backend_common {
namespace {

// The signals a hypervisor must start with at their default disposition, whatever the spawning
// process (hal-node, a test runner) ignores: listed here rather than taken from kResetSignals,
// so a shorter list there fails the test.
constexpr int kMustBeDefault[] = {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGUSR1, SIGUSR2};

// Waits for child `pid` and returns its exit status.
int wait_for(pid_t pid) {
  int status = 0;
  EXPECT_EQ(::waitpid(pid, &status, 0), pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// The mask of the line `field` ("SigBlk", "SigIgn") of /proc/PID/status.
unsigned long long status_mask(const std::string &pid, const std::string &field) {
  std::istringstream in(read_file("/proc/" + pid + "/status").value_or(""));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) {
      return std::stoull(line.substr(field.size() + 1), nullptr, 16);
    }
  }
  ADD_FAILURE() << "no " << field << " in /proc/" << pid << "/status";
  return ~0ull;
}

// The bit of `signal` in a /proc/PID/status signal mask.
unsigned long long bit(int signal) {
  return 1ull << (signal - 1);
}

// For its lifetime, this thread ignores every signal of kMustBeDefault and blocks SIGTERM and
// SIGUSR1, as a host process may; the old state is put back by the destructor.
class HostileSignalState {
 public:
  HostileSignalState() {
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    for (size_t i = 0; i < std::size(kMustBeDefault); ++i) {
      ::sigaction(kMustBeDefault[i], &ignore, &saved_actions_[i]);
    }
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGUSR1);
    ::pthread_sigmask(SIG_BLOCK, &block, &saved_mask_);
  }
  ~HostileSignalState() {
    ::pthread_sigmask(SIG_SETMASK, &saved_mask_, nullptr);
    for (size_t i = 0; i < std::size(kMustBeDefault); ++i) {
      ::sigaction(kMustBeDefault[i], &saved_actions_[i], nullptr);
    }
  }
  HostileSignalState(const HostileSignalState &) = delete;
  HostileSignalState &operator=(const HostileSignalState &) = delete;

 private:
  struct sigaction saved_actions_[std::size(kMustBeDefault)] = {};
  sigset_t saved_mask_{};
};

TEST(Spawn, ArgvIsPassedAsIsWithoutAShell) {
  testing::TempDir tmp;
  const pid_t pid = spawn_process({"echo", "a;b", "$HOME", "*"}, tmp.path() / "log");
  EXPECT_EQ(wait_for(pid), 0);
  EXPECT_EQ(read_file(tmp.path() / "log"), "a;b $HOME *\n");
}

TEST(Spawn, TheLogIsCreatedOwnerOnlyAndGetsStdoutAndStderr) {
  testing::TempDir tmp;
  const auto log = tmp.path() / "log";
  const pid_t pid = spawn_process({"sh", "-c", "echo out; echo err >&2"}, log);
  EXPECT_EQ(wait_for(pid), 0);
  struct stat st {};
  ASSERT_EQ(::stat(log.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(read_file(log), "out\nerr\n");
}

TEST(Spawn, RunsInTheWorkingDirectoryGiven) {
  testing::TempDir tmp;
  const pid_t pid =
      spawn_process({"sh", "-c", "pwd; echo x > here"}, tmp.path() / "log", tmp.path());
  EXPECT_EQ(wait_for(pid), 0);
  EXPECT_EQ(read_file(tmp.path() / "log"), tmp.str() + "\n");
  EXPECT_TRUE(std::filesystem::exists(tmp.path() / "here"));
  EXPECT_THROW(spawn_process({"true"}, tmp.path() / "log2", tmp.path() / "missing"),
               std::system_error);
}

TEST(Spawn, OutputIsAppendedToTheLogAndStdinIsEmpty) {
  testing::TempDir tmp;
  const auto log = tmp.path() / "log";
  write_file_atomic(log, "before\n");
  const pid_t pid = spawn_process({"sh", "-c", "cat; echo out; echo err >&2"}, log);
  EXPECT_EQ(wait_for(pid), 0);
  EXPECT_EQ(read_file(log), "before\nout\nerr\n");
}

TEST(Spawn, OwnProcessGroupAndCleanSignalState) {
  testing::TempDir tmp;
  pid_t pid = -1;
  {
    HostileSignalState hostile;
    const std::string self = std::to_string(::gettid());
    for (int sig : kMustBeDefault) {
      ASSERT_NE(status_mask(self, "SigIgn") & bit(sig), 0u) << "the test must ignore " << sig;
    }
    ASSERT_NE(status_mask(self, "SigBlk") & bit(SIGTERM), 0u);
    pid = spawn_process({"sleep", "30"}, tmp.path() / "log");
  }
  testing::ProcessGuard guard(pid);
  EXPECT_EQ(::getpgid(pid), pid);
  EXPECT_EQ(status_mask(std::to_string(pid), "SigBlk"), 0u);
  const unsigned long long ignored = status_mask(std::to_string(pid), "SigIgn");
  for (int sig : kMustBeDefault) {
    EXPECT_EQ(ignored & bit(sig), 0u) << "signal " << sig << " (" << ::sigabbrev_np(sig) << ")";
  }
}

// Issue 25: a hypervisor never gains privileges through execve (setuid helpers, capabilities).
TEST(Spawn, TheProcessHasNoNewPrivs) {
  if (status_mask("self", "NoNewPrivs") != 0) GTEST_SKIP() << "the test runner has it already";
  testing::TempDir tmp;
  const pid_t pid = spawn_process({"grep", "NoNewPrivs", "/proc/self/status"}, tmp.path() / "log");
  EXPECT_EQ(wait_for(pid), 0);
  EXPECT_EQ(read_file(tmp.path() / "log").value_or(""), "NoNewPrivs:\t1\n");
}

TEST(Spawn, WhatTheProcessCreatesIsOwnerOnly) {
  testing::TempDir tmp;
  const mode_t old_umask = ::umask(022);
  const pid_t pid = spawn_process(
      {"sh", "-c", "umask; : > \"$0\"; mkdir \"$0.d\"", (tmp.path() / "made").string()},
      tmp.path() / "log");
  ::umask(old_umask);
  EXPECT_EQ(wait_for(pid), 0);
  EXPECT_EQ(read_file(tmp.path() / "log").value_or(""), "0077\n");
  struct stat st {};
  ASSERT_EQ(::stat((tmp.path() / "made").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((tmp.path() / "made.d").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST(Spawn, AFileThatCannotBeExecutedThrowsWithTheReason) {
  testing::TempDir tmp;
  write_file_atomic(tmp.path() / "script", "#!/nonexistent/interpreter\n");
  ::chmod((tmp.path() / "script").c_str(), 0700);
  try {
    spawn_process({(tmp.path() / "script").string()}, tmp.path() / "log");
    ADD_FAILURE() << "spawned a script whose interpreter does not exist";
  } catch (const std::system_error &e) {
    EXPECT_EQ(e.code().value(), ENOENT) << e.what();
  }
}

TEST(Spawn, MissingBinaryAndEmptyArgvThrow) {
  testing::TempDir tmp;
  EXPECT_THROW(spawn_process({"/nonexistent/qemu"}, tmp.path() / "log"), std::system_error);
  EXPECT_THROW(spawn_process({"hal-no-such-binary"}, tmp.path() / "log"), std::system_error);
  EXPECT_THROW(spawn_process({}, tmp.path() / "log"), std::invalid_argument);
}

}  // namespace
}  // namespace hal::backend_common
