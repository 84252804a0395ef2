// resolve_binary.cc - execvp's PATH search (see resolve_binary.h).
#include "backends/common/resolve_binary.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

namespace hal::backend_common {
namespace fs = std::filesystem;

namespace {

// True for an executable regular file (execvp skips directories, even searchable ones).
bool is_executable_file(const fs::path &path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

// PATH, or the default path execvp searches when it is unset (confstr's _CS_PATH).
std::string search_path() {
  if (const char *path = std::getenv("PATH")) return path;
  std::string defaults(::confstr(_CS_PATH, nullptr, 0), '\0');
  if (defaults.empty()) return "/bin:/usr/bin";
  ::confstr(_CS_PATH, defaults.data(), defaults.size());
  defaults.pop_back();  // confstr counts the terminating NUL
  return defaults;
}

}  // namespace

std::string resolve_binary(const std::string &binary) {
  if (binary.empty()) return "";
  if (binary.find('/') != std::string::npos) return is_executable_file(binary) ? binary : "";
  // Every ':'-separated entry, the empty ones (leading, trailing, doubled) included.
  const std::string path = search_path();
  for (size_t start = 0;;) {
    const size_t end = path.find(':', start);
    std::string dir =
        path.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (dir.empty()) dir = ".";
    const fs::path candidate = fs::path(dir) / binary;
    if (is_executable_file(candidate)) return candidate.string();
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return "";
}

}  // namespace hal::backend_common
