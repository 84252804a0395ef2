// state_dir.cc - creating, removing and reading a VM's state directory (see state_dir.h).
#include "backends/common/state_dir.h"

#include "backends/common/private_dir.h"
#include "backends/common/state_files.h"

namespace hal::backend_common {
namespace fs = std::filesystem;

void StateDir::create() const {
  create_private_dir(dir_);
}

void StateDir::remove() const {
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

bool StateDir::exists() const {
  std::error_code ec;
  return fs::is_directory(dir_, ec);
}

std::optional<pid_t> StateDir::read_pid() const {
  return read_pid_file(pidfile());
}

}  // namespace hal::backend_common
