// private_dir_test.cc - owner-only directory creation and the default state root.
#include "backends/common/private_dir.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>

#include "testing/temp_dir.h"

namespace hal::backend_common {
namespace {

// The permission bits of `path`.
unsigned mode_of(const std::filesystem::path &path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 0777;
}

TEST(PrivateDir, CreatesEveryMissingParentOwnerOnly) {
  testing::TempDir tmp;
  ::chmod(tmp.path().c_str(), 0755);
  // With the usual umask a directory made with the default mode would be 0755.
  const mode_t old_umask = ::umask(022);
  create_private_dir(tmp.path() / "a" / "b" / "vm");
  ::umask(old_umask);
  EXPECT_EQ(mode_of(tmp.path() / "a"), 0700u);
  EXPECT_EQ(mode_of(tmp.path() / "a" / "b"), 0700u);
  EXPECT_EQ(mode_of(tmp.path() / "a" / "b" / "vm"), 0700u);
  EXPECT_EQ(mode_of(tmp.path()), 0755u);  // an existing parent is left as it is
}

TEST(PrivateDir, AnExistingDirectoryBecomesPrivate) {
  testing::TempDir tmp;
  ASSERT_EQ(::mkdir((tmp.path() / "vm").c_str(), 0755), 0);
  create_private_dir(tmp.path() / "vm");
  EXPECT_EQ(mode_of(tmp.path() / "vm"), 0700u);
  create_private_dir(tmp.path() / "vm");  // again: no error
}

TEST(PrivateDir, AFileInTheWayThrows) {
  testing::TempDir tmp;
  std::ofstream(tmp.path() / "file") << "x";
  EXPECT_THROW(create_private_dir(tmp.path() / "file" / "vm"), std::system_error);
}

TEST(DefaultStateRoot, RootUsesRun) {
  if (::geteuid() != 0) GTEST_SKIP() << "not root (the next test covers other users)";
  EXPECT_EQ(default_state_root("kvm-qemu"), "/run/hal/kvm-qemu");
}

// Sets XDG_RUNTIME_DIR (or unsets it for nullptr) for one test and puts the old value back.
class RuntimeDirOverride {
 public:
  explicit RuntimeDirOverride(const char *value) {
    if (const char *old = std::getenv("XDG_RUNTIME_DIR")) saved_ = old;
    if (value != nullptr) {
      ::setenv("XDG_RUNTIME_DIR", value, 1);
    } else {
      ::unsetenv("XDG_RUNTIME_DIR");
    }
  }
  ~RuntimeDirOverride() {
    if (saved_) {
      ::setenv("XDG_RUNTIME_DIR", saved_->c_str(), 1);
    } else {
      ::unsetenv("XDG_RUNTIME_DIR");
    }
  }
  RuntimeDirOverride(const RuntimeDirOverride &) = delete;
  RuntimeDirOverride &operator=(const RuntimeDirOverride &) = delete;

 private:
  std::optional<std::string> saved_;
};

TEST(DefaultStateRoot, OthersUseTheRuntimeDirOrTmpNamedByTheEffectiveUid) {
  if (::geteuid() == 0) GTEST_SKIP() << "root always uses /run/hal (see the next test)";
  {
    RuntimeDirOverride xdg("/run/user/4242");
    EXPECT_EQ(default_state_root("cloud-hypervisor"), "/run/user/4242/hal/cloud-hypervisor");
  }
  RuntimeDirOverride none(nullptr);
  EXPECT_EQ(default_state_root("cloud-hypervisor"),
            "/tmp/hal-" + std::to_string(::geteuid()) + "/cloud-hypervisor");
}

TEST(DefaultStateRoot, TheEffectiveUidDecidesNotTheRealOne) {
  if (::getuid() != 0) GTEST_SKIP() << "needs root to run with another effective uid";
  // Real uid 0, effective uid 65534 (as a setuid-dropping launcher leaves it): the directories are
  // created as 65534, so the root must be the unprivileged one named after 65534.
  constexpr uid_t kNobody = 65534;
  RuntimeDirOverride none(nullptr);
  ASSERT_EQ(::seteuid(kNobody), 0);
  const std::filesystem::path root = default_state_root("kvm-qemu");
  ASSERT_EQ(::seteuid(0), 0);
  EXPECT_EQ(root, "/tmp/hal-65534/kvm-qemu");
}

}  // namespace
}  // namespace hal::backend_common
