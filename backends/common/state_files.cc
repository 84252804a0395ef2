// state_files.cc - atomic writes, reads, log tails and pidfiles (see state_files.h).
#include "backends/common/state_files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>
#include <system_error>

namespace hal::backend_common {
namespace fs = std::filesystem;

void write_file_atomic(const fs::path &path, const std::string &content) {
  const fs::path tmp = path.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "open " + tmp.string());
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      ::close(fd);
      throw std::system_error(error, std::generic_category(), "write " + tmp.string());
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    throw std::system_error(errno, std::generic_category(), "rename " + path.string());
  }
}

std::optional<std::string> read_file(const fs::path &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string read_tail(const fs::path &path, size_t max_bytes) {
  auto text = read_file(path);
  if (!text) return "";
  if (text->size() <= max_bytes) return *text;
  std::string tail = text->substr(text->size() - max_bytes);
  // Drop the cut line, unless the line break is the tail's last byte (that would leave nothing).
  const size_t newline = tail.find('\n');
  if (newline != std::string::npos && newline + 1 < tail.size()) tail = tail.substr(newline + 1);
  return tail;
}

void write_pid_file(const fs::path &path, pid_t pid) {
  write_file_atomic(path, std::to_string(pid) + "\n");
}

std::optional<pid_t> read_pid_file(const fs::path &path) {
  auto text = read_file(path);
  if (!text) return std::nullopt;
  char *end = nullptr;
  errno = 0;
  const long pid = std::strtol(text->c_str(), &end, 10);
  if (end == text->c_str() || errno != 0 || pid <= 1 || pid > std::numeric_limits<pid_t>::max()) {
    return std::nullopt;
  }
  // Only white space may follow the number ("12abc" is not a pidfile we wrote).
  for (const char *rest = end; *rest != '\0'; ++rest) {
    if (std::isspace(static_cast<unsigned char>(*rest)) == 0) return std::nullopt;
  }
  return static_cast<pid_t>(pid);
}

}  // namespace hal::backend_common
