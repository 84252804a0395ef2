// migration.h - live migration for the Cloud Hypervisor backend: HAL migration parameters ->
// SendMigrationData, and the migration relay. Cloud Hypervisor has no API to observe transfer
// progress or to cancel a migration, so the backend puts a relay between the VMM and the
// endpoint: it counts the bytes (progress), enforces bandwidthMiBps, and cancels by cutting the
// connection (the source VMM then fails the migration and keeps the VM running). With
// migration-params "tls" a backend_common::TlsRelay carries the relay's outside connection over
// mutual TLS (Cloud Hypervisor has no TLS of its own).
#ifndef HAL_BACKENDS_CLOUD_HYPERVISOR_MIGRATION_H
#define HAL_BACKENDS_CLOUD_HYPERVISOR_MIGRATION_H

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "backends/cloud-hypervisor/ch_version.h"
#include "backends/common/migration_tls_params.h"
#include "core/spec/vm_spec.h"

namespace hal::cloud_hypervisor {

/** Effective migration parameters (params_json over the spec's policy). */
struct MigrationParams {
  std::string uri;
  uint32_t max_downtime_ms = 300;
  uint32_t bandwidth_mibps = 0;  // 0 = unlimited
  uint64_t timeout_ms = 0;       // 0 = none
  /** Set: the stream goes over mutual TLS through a backend_common::TlsRelay. */
  std::optional<backend_common::MigrationTlsParams> tls;
  /** True when params or the spec's policy ask for a downtime limit (maxDowntimeMs). */
  bool downtime_set = false;
};

/** Parses params_json (migration-params schema) over `policy`. Throws Failure: INVALID_ARGUMENT
 *  for bad JSON/values, UNSUPPORTED for postCopy and multifdChannels > 1. */
MigrationParams parse_migration_params(std::string_view params_json, const MigrationPolicy &policy);

/** timeout_s sent for "no timeout" (timeoutMs 0): upstream's default cancels after one hour. */
inline constexpr uint64_t kNoTimeoutSeconds = 100ull * 365 * 24 * 3600;

/** The vm.send-migration body for a relay at `relay_url`, for a VMM of release `release`:
 *  downtime_ms, timeout_s and timeout_strategy "Cancel" from v52.0 on. Throws
 *  Failure(UNSUPPORTED) naming the field when params ask for a downtime limit or a timeout that
 *  an older release would silently ignore. */
nlohmann::json send_migration_body(const MigrationParams &params, const std::string &relay_url,
                                   ChVersion release);

/** A byte pump between one listening URL and one destination URL. Accepts one connection on
 *  `listen_url`, then connects to `connect_url` and copies both ways until either side closes,
 *  or cancel(). Thread-safe. */
class MigrationRelay {
 public:
  /** Binds `listen_url` ("unix:PATH" or "tcp:HOST:PORT"; tcp port 0 picks one) now; throws
   *  std::runtime_error. `connect_retry_ms` > 0 retries the destination connect that long (for a
   *  VMM socket that appears a moment later). */
  MigrationRelay(const std::string &listen_url, std::string connect_url, uint32_t bandwidth_mibps,
                 uint32_t connect_retry_ms = 0);
  /** Cancels and joins. */
  ~MigrationRelay();
  MigrationRelay(const MigrationRelay &) = delete;
  MigrationRelay &operator=(const MigrationRelay &) = delete;

  /** The URL actually listened on (tcp port filled in). */
  const std::string &listen_url() const { return listen_url_; }
  /** Bytes copied towards the destination so far. */
  uint64_t forwarded() const { return forwarded_.load(); }
  /** Cuts both connections and stops listening. */
  void cancel();
  /** True once cancel() was called. */
  bool cancelled() const { return cancelled_.load(); }
  /** Why the relay ended early ("" while fine): e.g. the destination refused. */
  std::string error() const;
  /** Waits up to `timeout` for the relay to end by itself (one side closed, everything read
   *  from the other forwarded); true when it has. A migration target waits for this before it
   *  drops the relay, so the VMM's last answer (its acknowledgement) reaches the source. */
  bool wait_finished(std::chrono::milliseconds timeout);

 private:
  void run();
  void pump();

  std::string listen_url_;
  std::string listen_path_;  // unix socket file to remove
  std::string connect_url_;
  uint32_t bandwidth_mibps_;
  uint32_t connect_retry_ms_;
  int listen_fd_ = -1;
  int wake_fd_ = -1;
  std::atomic<uint64_t> forwarded_{0};
  std::atomic<bool> cancelled_{false};
  mutable std::mutex mutex_;
  std::string error_;
  bool finished_ = false;
  std::condition_variable finished_cv_;
  std::thread thread_;
};

}  // namespace hal::cloud_hypervisor

#endif  // HAL_BACKENDS_CLOUD_HYPERVISOR_MIGRATION_H
