// state_files_test.cc - atomic owner-only writes, reads, log tails and pidfiles.
#include "backends/common/state_files.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "testing/temp_dir.h"

namespace hal::backend_common {
namespace {

namespace fs = std::filesystem;

TEST(StateFiles, WritesAreOwnerOnlyAndLeaveNoTempFile) {
  testing::TempDir tmp;
  const fs::path file = tmp.path() / "spec.json";
  write_file_atomic(file, "{}");
  write_file_atomic(file, "{\"a\":1}");
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(read_file(file), "{\"a\":1}");
  EXPECT_FALSE(fs::exists(tmp.path() / "spec.json.tmp"));
}

TEST(StateFiles, WriteIntoAMissingDirectoryThrows) {
  testing::TempDir tmp;
  EXPECT_THROW(write_file_atomic(tmp.path() / "missing" / "f", "x"), std::system_error);
}

TEST(StateFiles, ReadOfAMissingFileIsNullopt) {
  testing::TempDir tmp;
  EXPECT_FALSE(read_file(tmp.path() / "missing"));
  EXPECT_EQ(read_tail(tmp.path() / "missing", 10), "");
}

TEST(StateFiles, TailStartsOnALineBoundary) {
  testing::TempDir tmp;
  const fs::path log = tmp.path() / "log";
  write_file_atomic(log, "first line\nsecond\nthird\n");
  EXPECT_EQ(read_tail(log, 100), "first line\nsecond\nthird\n");
  EXPECT_EQ(read_tail(log, 10), "third\n");  // "nd\nthird\n": the cut line is dropped
  EXPECT_EQ(read_tail(log, 3), "rd\n");      // no line start in reach: the bytes as they are
  write_file_atomic(log, "abc\n");
  EXPECT_EQ(read_tail(log, 1), "\n");  // a lone line break is kept, not emptied
}

TEST(StateFiles, PidfileRoundTripAndMalformedContent) {
  testing::TempDir tmp;
  const fs::path pidfile = tmp.path() / "x.pid";
  EXPECT_FALSE(read_pid_file(pidfile));
  write_pid_file(pidfile, 1234);
  EXPECT_EQ(read_file(pidfile), "1234\n");
  EXPECT_EQ(read_pid_file(pidfile), 1234);
  write_file_atomic(pidfile, " 42 \n");
  EXPECT_EQ(read_pid_file(pidfile), 42);
  for (const char *bad : {"", "\n", "abc", "12abc", "12 13", "1", "0", "-5", "99999999999999"}) {
    write_file_atomic(pidfile, bad);
    EXPECT_FALSE(read_pid_file(pidfile)) << bad;
  }
}

}  // namespace
}  // namespace hal::backend_common
