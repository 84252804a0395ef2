// state_files.h - the small files of a backend's state directory: atomic owner-only writes (a
// crash never leaves half a spec or pidfile behind), whole-file reads, the tail of a log for error
// messages, and pidfiles.
#ifndef HAL_BACKENDS_COMMON_STATE_FILES_H
#define HAL_BACKENDS_COMMON_STATE_FILES_H

#include <sys/types.h>

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>

namespace hal::backend_common {

/** Writes `content` to `path` atomically (a temp file beside it, then rename) with mode 0600.
 *  Throws std::system_error. */
void write_file_atomic(const std::filesystem::path &path, const std::string &content);

/** The whole content of `path`; nullopt when it cannot be read. */
std::optional<std::string> read_file(const std::filesystem::path &path);

/** The last `max_bytes` of `path`, starting after the first line break when the cut fell inside a
 *  line; "" when the file cannot be read. */
std::string read_tail(const std::filesystem::path &path, size_t max_bytes);

/** Writes `pid` as one decimal line to pidfile `path` (atomically, mode 0600). */
void write_pid_file(const std::filesystem::path &path, pid_t pid);

/** The pid in pidfile `path`; nullopt when it is absent, malformed (anything but white space
 *  around one decimal number) or not above 1. */
std::optional<pid_t> read_pid_file(const std::filesystem::path &path);

}  // namespace hal::backend_common

#endif  // HAL_BACKENDS_COMMON_STATE_FILES_H
