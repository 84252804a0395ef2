// owner_only.cc - make_store_files_owner_only (owner_only.h).
#include "controller/store/owner_only.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "controller/store/store.h"

namespace hal::controller {

namespace {

[[noreturn]] void fail(const std::string &file, const char *what) {
  throw StoreError(StoreErrorCode::kIo, file + ": cannot make the store owner-only (" + what +
                                            "): " + std::strerror(errno));
}

}  // namespace

void make_store_files_owner_only(const std::string &path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) fail(path, "open");
  const int rc = ::fchmod(fd, 0600);
  ::close(fd);
  if (rc != 0) fail(path, "chmod");
  for (const char *suffix : {"-wal", "-shm"}) {
    const std::string file = path + suffix;
    if (::chmod(file.c_str(), 0600) != 0 && errno != ENOENT) fail(file, "chmod");
  }
}

}  // namespace hal::controller
