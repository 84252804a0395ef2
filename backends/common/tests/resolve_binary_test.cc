// resolve_binary_test.cc - the PATH search of resolve_binary, as execvp does it.
#include "backends/common/resolve_binary.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "testing/temp_dir.h"

namespace hal::backend_common {
namespace {

namespace fs = std::filesystem;

// Sets PATH for one test and puts the old value back.
class PathOverride {
 public:
  explicit PathOverride(const std::string &path) {
    if (const char *old = std::getenv("PATH")) saved_ = old;
    ::setenv("PATH", path.c_str(), 1);
  }
  ~PathOverride() { ::setenv("PATH", saved_.c_str(), 1); }

 private:
  std::string saved_;
};

class ResolveBinaryTest : public ::testing::Test {
 protected:
  // Writes a file `name` in directory `dir` with permission bits `mode`.
  fs::path file(const fs::path &dir, const std::string &name, mode_t mode) {
    fs::create_directories(dir);
    const fs::path path = dir / name;
    std::ofstream(path) << "#!/bin/sh\n";
    ::chmod(path.c_str(), mode);
    return path;
  }
  testing::TempDir tmp_;
};

TEST_F(ResolveBinaryTest, APathIsTakenAsIsWhenExecutable) {
  const fs::path exe = file(tmp_.path(), "hv", 0755);
  const fs::path plain = file(tmp_.path(), "plain", 0644);
  EXPECT_EQ(resolve_binary(exe.string()), exe.string());
  EXPECT_EQ(resolve_binary(plain.string()), "");
  EXPECT_EQ(resolve_binary(tmp_.path().string()), "");  // a directory
  EXPECT_EQ(resolve_binary((tmp_.path() / "missing").string()), "");
  EXPECT_EQ(resolve_binary(""), "");
}

TEST_F(ResolveBinaryTest, NamesAreSearchedInPathOrder) {
  file(tmp_.path() / "a", "hv", 0644);               // not executable: skipped
  fs::create_directories(tmp_.path() / "b" / "hv");  // a directory: skipped
  const fs::path found = file(tmp_.path() / "c", "hv", 0755);
  file(tmp_.path() / "d", "hv", 0755);
  PathOverride path((tmp_.path() / "a").string() + ":" + (tmp_.path() / "b").string() + ":" +
                    (tmp_.path() / "c").string() + ":" + (tmp_.path() / "d").string());
  EXPECT_EQ(resolve_binary("hv"), found.string());
  EXPECT_EQ(resolve_binary("hal-no-such-binary"), "");
}

TEST_F(ResolveBinaryTest, AnEmptyPathEntryIsTheCurrentDirectory) {
  file(tmp_.path(), "hv", 0755);
  const fs::path cwd = fs::current_path();
  fs::current_path(tmp_.path());
  {
    PathOverride leading(":/nonexistent");
    EXPECT_EQ(resolve_binary("hv"), "./hv");
  }
  {
    PathOverride trailing("/nonexistent:");
    EXPECT_EQ(resolve_binary("hv"), "./hv");
  }
  fs::current_path(cwd);
}

TEST_F(ResolveBinaryTest, SystemPathWhenPathIsUnset) {
  PathOverride restore("");
  ::unsetenv("PATH");
  EXPECT_EQ(resolve_binary("sh"), "/bin/sh");
}

}  // namespace
}  // namespace hal::backend_common
