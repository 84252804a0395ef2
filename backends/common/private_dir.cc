// private_dir.cc - owner-only directories and the default state root (see private_dir.h).
#include "backends/common/private_dir.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <system_error>

namespace hal::backend_common {
namespace fs = std::filesystem;

namespace {

// mkdir -p with mode 0700 on every component this call creates.
void make_missing_dirs(const fs::path &dir) {
  std::error_code ec;
  if (fs::exists(dir, ec)) return;
  if (dir.has_parent_path() && dir.parent_path() != dir) make_missing_dirs(dir.parent_path());
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    throw std::system_error(errno, std::generic_category(), "mkdir " + dir.string());
  }
}

}  // namespace

void create_private_dir(const fs::path &dir) {
  make_missing_dirs(dir);
  if (::chmod(dir.c_str(), 0700) != 0) {
    throw std::system_error(errno, std::generic_category(), "chmod " + dir.string());
  }
}

fs::path default_state_root(std::string_view backend) {
  // The effective uid decides both "are we root" and the fallback's name: the directories are
  // created with (and owned by) the effective uid, so the name matches the owner.
  const uid_t euid = ::geteuid();
  if (euid == 0) return fs::path("/run/hal") / backend;
  if (const char *xdg = std::getenv("XDG_RUNTIME_DIR"); xdg != nullptr && *xdg != '\0') {
    return fs::path(xdg) / "hal" / backend;
  }
  return fs::path("/tmp") / ("hal-" + std::to_string(euid)) / backend;
}

}  // namespace hal::backend_common
