// audit_log.cc - audit lines and their file (see audit_log.h).
#include "controller/server/audit_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <iterator>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string_view>

#include "core/log/log.h"

namespace hal::controller {

namespace {

std::string rfc3339_ms(std::chrono::system_clock::time_point time) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch());
  const std::time_t seconds = static_cast<std::time_t>(ms.count() / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[40];
  const size_t length = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(text + length, sizeof text - length, ".%03dZ",
                static_cast<int>(((ms.count() % 1000) + 1000) % 1000));
  return text;
}

}  // namespace

std::string default_audit_log_path(const std::string &store) {
  constexpr std::string_view kSqlite = "sqlite:";
  if (!store.starts_with(kSqlite)) return "";
  const std::filesystem::path file(store.substr(kSqlite.size()));
  return (file.parent_path() / "audit.log").string();
}

std::string grpc_code_name(int code) {
  static const char *const names[] = {"OK",
                                      "CANCELLED",
                                      "UNKNOWN",
                                      "INVALID_ARGUMENT",
                                      "DEADLINE_EXCEEDED",
                                      "NOT_FOUND",
                                      "ALREADY_EXISTS",
                                      "PERMISSION_DENIED",
                                      "RESOURCE_EXHAUSTED",
                                      "FAILED_PRECONDITION",
                                      "ABORTED",
                                      "OUT_OF_RANGE",
                                      "UNIMPLEMENTED",
                                      "INTERNAL",
                                      "UNAVAILABLE",
                                      "DATA_LOSS",
                                      "UNAUTHENTICATED"};
  if (code >= 0 && code < static_cast<int>(std::size(names))) return names[code];
  return "CODE_" + std::to_string(code);
}

std::string audit_line(const AuditRecord &record, std::chrono::system_clock::time_point time) {
  nlohmann::ordered_json line = {{"time", rfc3339_ms(time)},
                                 {"user", record.user},
                                 {"groups", record.groups},
                                 {"call", record.call},
                                 {"verb", record.verb},
                                 {"apiGroup", record.group},
                                 {"resource", record.resource},
                                 {"namespace", record.ns},
                                 {"name", record.name},
                                 {"result",
                                  {{"decision", record.decision},
                                   {"code", grpc_code_name(record.code)},
                                   {"message", record.message}}}};
  if (record.dry_run) line["dryRun"] = true;
  // Invalid UTF-8 (from a manifest) is replaced rather than failing the line.
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

AuditLog::AuditLog(std::string path) : path_(std::move(path)) {
  fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd_ < 0) {
    throw std::runtime_error("cannot open the audit log " + path_ + ": " + std::strerror(errno));
  }
  // An older file may have been created wider.
  if (::fchmod(fd_, 0600) != 0) {
    const int error = errno;
    ::close(fd_);
    throw std::runtime_error("cannot make the audit log " + path_ +
                             " owner-only: " + std::strerror(error));
  }
}

AuditLog::~AuditLog() {
  if (fd_ >= 0) ::close(fd_);
}

void AuditLog::append(const AuditRecord &record) {
  std::string line = audit_line(record, std::chrono::system_clock::now()) + "\n";
  std::lock_guard lock(mutex_);
  size_t written = 0;
  while (written < line.size()) {
    const ssize_t n = ::write(fd_, line.data() + written, line.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (!failing_)
        hal::log("controller")
            ->error("cannot write the audit log {}: {}", path_, std::strerror(errno));
      failing_ = true;
      return;
    }
    written += static_cast<size_t>(n);
  }
  failing_ = false;
}

}  // namespace hal::controller
