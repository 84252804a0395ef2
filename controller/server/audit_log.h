// audit_log.h - the controller's audit log: one JSON line per mutating Controller API call (who,
// what, on which object, and the result: allowed or denied, the gRPC code and message),
// appended to an owner-only (0600) file. Each line is one write(2) on an O_APPEND descriptor
// under a mutex, so lines never interleave and a reader sees whole lines as soon as the call ends.
#ifndef HAL_CONTROLLER_SERVER_AUDIT_LOG_H
#define HAL_CONTROLLER_SERVER_AUDIT_LOG_H

#include <chrono>
#include <mutex>
#include <string>
#include <vector>

namespace hal::controller {

/** What one audit line records. */
struct AuditRecord {
  std::string user;                 ///< The caller's user (certificate CN).
  std::vector<std::string> groups;  ///< The caller's groups (certificate O).
  std::string call;                 ///< The RPC: "Apply", "Delete", "Start", "Drain", ...
  std::string verb;                 ///< RBAC verb: create, update, delete, get.
  std::string group;                ///< API group of the resource.
  std::string resource;             ///< "virtualmachines", "virtualmachines/start", ...
  std::string ns;                   ///< Namespace ("" for cluster-scoped).
  std::string name;                 ///< Object name.
  std::string decision;  ///< "allowed", "denied", or "none" when nothing could be authorized.
  int code = 0;          ///< The call's gRPC status code.
  std::string message;   ///< The call's status message.
  bool dry_run = false;  ///< An Apply dry run (nothing was stored).
};

/** The JSON line (without newline) of `record` at `time`: time (RFC 3339 UTC with milliseconds),
 *  user, groups, call, verb, apiGroup, resource, namespace, name, result {decision, code (gRPC
 *  code name), message}, and dryRun when set. */
std::string audit_line(const AuditRecord &record, std::chrono::system_clock::time_point time);

/** Where a controller on store URL `store` keeps its audit log unless told: audit.log in the
 *  directory of an SQLite store's file (its state directory); "" (none) for a memory store. */
std::string default_audit_log_path(const std::string &store);

/** "OK", "PERMISSION_DENIED", ... for a grpc::StatusCode value. */
std::string grpc_code_name(int code);

/** An open audit log file. Thread-safe. */
class AuditLog {
 public:
  /** Opens (creating with mode 0600, never through a symlink) `path` for appending and makes it
   *  owner-only. Throws std::runtime_error naming the file. */
  explicit AuditLog(std::string path);
  ~AuditLog();
  AuditLog(const AuditLog &) = delete;
  AuditLog &operator=(const AuditLog &) = delete;

  /** Appends the line of `record`, timed now. A failed write is logged, not thrown: the API
   *  call it records has already happened. */
  void append(const AuditRecord &record);

  /** The file. */
  const std::string &path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
  std::mutex mutex_;
  bool failing_ = false;  ///< The last write failed (logged once per failure streak).
};

}  // namespace hal::controller

#endif  // HAL_CONTROLLER_SERVER_AUDIT_LOG_H
