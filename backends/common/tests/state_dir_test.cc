// state_dir_test.cc - a VM's state directory: private, its file names, its pidfile.
#include "backends/common/state_dir.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "backends/common/state_files.h"
#include "testing/temp_dir.h"

namespace hal::backend_common {
namespace {

const ProcessFileNames kNames{"hv.pid", "hv.log"};

TEST(StateDir, StateDirIsPrivateAndFilesAreAtomic) {
  testing::TempDir tmp;
  StateDir dir(tmp.path() / "nested" / "vm1", kNames);
  dir.create();
  struct stat st {};
  ASSERT_EQ(::stat(dir.dir().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  write_file_atomic(dir.spec_file(), "{}");
  ASSERT_EQ(::stat(dir.spec_file().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(read_file(dir.spec_file()), "{}");
  EXPECT_FALSE(dir.read_pid());
  write_file_atomic(dir.pidfile(), "1234\n");
  EXPECT_EQ(dir.read_pid(), 1234);
  dir.remove();
  EXPECT_FALSE(dir.exists());
}

TEST(StateDir, FileNames) {
  const StateDir dir("/s/vm", kNames);
  EXPECT_EQ(dir.dir(), "/s/vm");
  EXPECT_EQ(dir.pidfile(), "/s/vm/hv.pid");
  EXPECT_EQ(dir.stderr_log(), "/s/vm/hv.log");
  EXPECT_EQ(dir.spec_file(), "/s/vm/spec.json");
  EXPECT_EQ(dir.status_file(), "/s/vm/status.json");
}

}  // namespace
}  // namespace hal::backend_common
