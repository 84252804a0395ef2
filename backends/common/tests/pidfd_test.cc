// pidfd_test.cc - pidfds: opening, signalling and reaping exactly the process they name.
#include "backends/common/pidfd.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "backends/common/spawn.h"
#include "testing/temp_dir.h"

namespace hal::backend_common {
namespace {

// Waits until `pidfd` is readable (its process exited).
void wait_readable(int pidfd) {
  pollfd fd{pidfd, POLLIN, 0};
  ASSERT_EQ(::poll(&fd, 1, 10000), 1);
}

TEST(Pidfd, SignalAndReapOurChild) {
  testing::TempDir tmp;
  const pid_t pid = spawn_process({"sleep", "30"}, tmp.path() / "log");
  const int pidfd = open_pidfd(pid);
  ASSERT_GE(pidfd, 0);
  EXPECT_FALSE(reap_pidfd(pidfd));  // still running
  EXPECT_EQ(signal_pidfd(pidfd, SIGKILL), 0);
  wait_readable(pidfd);
  const std::optional<int> status = reap_pidfd(pidfd);
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFSIGNALED(*status));
  EXPECT_EQ(WTERMSIG(*status), SIGKILL);
  EXPECT_FALSE(reap_pidfd(pidfd));  // reaped once only
  EXPECT_EQ(signal_pidfd(pidfd, SIGKILL), -1);
  EXPECT_EQ(errno, ESRCH);
  ::close(pidfd);
}

TEST(Pidfd, ExitStatusIsTheOneWaitpidReports) {
  testing::TempDir tmp;
  const pid_t pid = spawn_process({"sh", "-c", "exit 7"}, tmp.path() / "log");
  const int pidfd = open_pidfd(pid);
  ASSERT_GE(pidfd, 0);
  wait_readable(pidfd);
  const std::optional<int> status = reap_pidfd(pidfd);
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 7);
  ::close(pidfd);
}

TEST(Pidfd, NotOurChildIsNotReaped) {
  const int pidfd = open_pidfd(::getppid());
  ASSERT_GE(pidfd, 0);
  EXPECT_FALSE(reap_pidfd(pidfd));
  ::close(pidfd);
}

TEST(Pidfd, NoSuchProcess) {
  EXPECT_EQ(open_pidfd(999999999), -1);
}

}  // namespace
}  // namespace hal::backend_common
