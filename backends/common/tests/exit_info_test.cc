// exit_info_test.cc - the words for how a process ended.
#include "backends/common/exit_info.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

namespace hal::backend_common {
namespace {

TEST(ExitInfo, Describe) {
  EXPECT_EQ((ExitInfo{true, W_EXITCODE(3, 0)}).describe(), "exited with status 3");
  EXPECT_EQ((ExitInfo{true, W_EXITCODE(0, 9)}).describe(), "killed by signal 9 (Killed)");
  EXPECT_EQ((ExitInfo{false, 0}).describe(), "exited (status unknown: not our child)");
  EXPECT_EQ((ExitInfo{true, W_STOPCODE(19)}).describe(), "ended (wait status 4991)");
}

}  // namespace
}  // namespace hal::backend_common
