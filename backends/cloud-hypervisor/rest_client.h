// rest_client.h - a client of Cloud Hypervisor's REST API over its Unix socket (Boost.Beast):
// one connection per request, a deadline per request, and typed calls for the endpoints the
// backend uses. Failures carry the HAL status mapped from the HTTP status and Cloud
// Hypervisor's own message.
#ifndef HAL_BACKENDS_CLOUD_HYPERVISOR_REST_CLIENT_H
#define HAL_BACKENDS_CLOUD_HYPERVISOR_REST_CLIENT_H

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "backends/cloud-hypervisor/http_reply.h"

namespace hal::cloud_hypervisor {

/** Talks to one VMM's API socket. Stateless apart from the path: safe from any thread. */
class ChApiClient {
 public:
  /** A client for the API socket at `socket_path`. */
  explicit ChApiClient(std::string socket_path) : socket_path_(std::move(socket_path)) {}

  /** Sends `verb` ("GET"/"PUT") /api/v1/`endpoint` with an optional JSON `body`; answers the
   *  reply whatever its status. Throws hal::plugin::Failure(UNAVAILABLE) when the socket cannot
   *  be reached or the reply is malformed, DEADLINE_EXCEEDED when `timeout` passes. */
  HttpReply call(std::string_view verb, std::string_view endpoint, const std::string &body = {},
                 std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;

  /** call() that throws Failure(status mapped from HTTP, "cloud-hypervisor <endpoint>: HTTP
   *  <code>: <message>") unless the reply is 2xx; answers the body (may be empty). */
  std::string request(std::string_view verb, std::string_view endpoint,
                      const nlohmann::json &body = nullptr,
                      std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;

  /** GET vmm.ping: {"version", "build_version", "pid", "features"}. */
  nlohmann::json ping(std::chrono::milliseconds timeout = std::chrono::seconds(5)) const;
  /** Pings a starting VMM until it answers, and returns the answer; nullopt as soon as
   *  `give_up()` (asked before each try: the VMM exited, a deadline passed) is true. A VMM
   *  creates its socket file when it binds, before it accepts connections, so the file alone
   *  does not mean the API is served. */
  std::optional<nlohmann::json> ping_until_served(const std::function<bool()> &give_up) const;
  /** PUT vm.create with a VmConfig. */
  void create(const nlohmann::json &vm_config) const;
  /** PUT vm.boot. */
  void boot() const;
  /** PUT vm.pause. */
  void pause() const;
  /** PUT vm.resume. */
  void resume() const;
  /** PUT vm.shutdown (stops the VM; the VMM stays). */
  void shutdown() const;
  /** PUT vm.reboot. */
  void reboot() const;
  /** PUT vm.power-button (ACPI power button: the guest powers itself off). */
  void power_button() const;
  /** PUT vm.delete. */
  void remove() const;
  /** PUT vmm.shutdown (the VMM process exits). */
  void vmm_shutdown() const;
  /** GET vm.info: {"config", "state", "memory_actual_size", "device_tree"}. */
  nlohmann::json info() const;
  /** GET vm.counters: {device: {counter: n}}. */
  nlohmann::json counters() const;
  /** PUT vm.snapshot {"destination_url"}. */
  void snapshot(const std::string &destination_url) const;
  /** PUT vm.restore {"source_url", "resume"?}. */
  void restore(const std::string &source_url) const;
  /** PUT vm.send-migration with SendMigrationData; blocks until the VMM answers (`timeout`). */
  void send_migration(const nlohmann::json &data, std::chrono::milliseconds timeout) const;
  /** PUT vm.receive-migration with ReceiveMigrationData; blocks until received (`timeout`). */
  void receive_migration(const nlohmann::json &data, std::chrono::milliseconds timeout) const;
  /** PUT vm.add-disk with a DiskConfig; answers the PciDeviceInfo (null on 204). */
  nlohmann::json add_disk(const nlohmann::json &disk_config) const;
  /** PUT vm.add-net with a NetConfig; answers the PciDeviceInfo (null on 204). */
  nlohmann::json add_net(const nlohmann::json &net_config) const;
  /** PUT vm.remove-device {"id"}. */
  void remove_device(const std::string &id) const;

  /** The socket path. */
  const std::string &socket_path() const { return socket_path_; }

 private:
  std::string socket_path_;
};

}  // namespace hal::cloud_hypervisor

#endif  // HAL_BACKENDS_CLOUD_HYPERVISOR_REST_CLIENT_H
