// agent_options.h - everything a NodeAgent (the library behind hal-node) is configured with:
// identity (node, pool, labels), the backends to load with their configs, where state lives,
// where plugins are found, where to listen and where the controller is.
#ifndef HAL_CONTROLLER_NODE_AGENT_OPTIONS_H
#define HAL_CONTROLLER_NODE_AGENT_OPTIONS_H

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "controller/tls/tls_options.h"

namespace hal::node {

/** One backend to load: a plugin (by manifest name on the plugin path, or a path to a .so) and
 *  the configuration object given to its open(). */
struct BackendOptions {
  /** Plugin name ("mock", "kvm-qemu") or a path to the shared object (contains '/'). */
  std::string plugin;
  /** The backend's open() configuration; "stateDir" is filled in by the agent when absent and
   *  NodeAgentOptions::state_dir is set. */
  nlohmann::json config = nlohmann::json::object();
};

/** The one directory VM specs may name host files in when no --host-path-root is given. */
inline constexpr char kDefaultHostPathRoot[] = "/var/lib/hal/images";

/** Configuration of one NodeAgent. */
struct NodeAgentOptions {
  /** Node name, unique in the cluster (also the kubernetes.io/hostname label). */
  std::string node_name;
  /** NodePool name (also the hal.dev/pool label). */
  std::string pool;
  /** Extra node labels (the pool's nodeSelector is merged in by the CLI). */
  std::map<std::string, std::string> labels;
  /** Backends to load, in order; at least one. */
  std::vector<BackendOptions> backends;
  /** Root of the agent's state; each backend's stateDir defaults to <state_dir>/<plugin name>.
   *  Empty: backends keep their own defaults. */
  std::filesystem::path state_dir;
  /** The only directories whose files a VM spec may name (kernel, initrd, firmware, disks; see
   *  host_paths.h); checked on every CreateVm and PrepareIncoming, whatever the controller
   *  checked. */
  std::vector<std::filesystem::path> host_path_roots = {kDefaultHostPathRoot};
  /** Directories searched for NAME.hal.json manifests before HAL_PLUGIN_PATH. */
  std::vector<std::filesystem::path> plugin_path;
  /** host:port to serve NodeAgent on; port 0 picks a free one (see NodeAgent::address()). */
  std::string listen = "127.0.0.1:0";
  /** host[:port] the controller dials to reach this agent (see advertised_address.h); empty:
   *  the listen address. Needed when `listen` is a wildcard and the controller is elsewhere. */
  std::string advertise;
  /** host:port of hal-controller's NodeRegistry; empty: do not register (standalone). */
  std::string controller;
  /** Mutual TLS: the node's certificate (CN=system:node:NAME) serves NodeAgent, where only the
   *  controller may call (users reach consoles through its relay), and registers with the
   *  controller. Default-constructed: plaintext (in-process tests). */
  tls::TlsOptions tls;
  /** With TLS on: a backend without features.migrationTls migrates in clear (logged) instead of
   *  being refused (--allow-insecure-migration). Every other migration goes over TLS. */
  bool allow_insecure_migration = false;
  /** Where the migration TLS files are laid out for the backends (migration_security.h); empty:
   *  <state_dir>/migration-tls, or a private temporary directory without a state_dir. */
  std::filesystem::path migration_tls_dir;
  /** A bootstrap token (hal-pki token NAME): with no tls.cert_file yet, the node joins through
   *  bootstrap_server and writes its signed certificate there (bootstrap_join.h). */
  std::string bootstrap_token;
  /** host:port of the controller's NodeBootstrap endpoint (hal-controller --bootstrap-listen). */
  std::string bootstrap_server;
  /** Heartbeat interval until the controller's Register answer says otherwise. */
  std::chrono::milliseconds heartbeat_interval{5000};
  /** Longest wait between registration attempts while the controller is unreachable. */
  std::chrono::milliseconds max_retry_backoff{2000};
  /** How long a VM that started here may run with no serial console output before the agent
   *  reports its guest as silent (guest_watch.h); zero: never. */
  std::chrono::milliseconds guest_silence_timeout{60000};
  /** Events kept for WatchEvents replay (since_sequence). */
  std::size_t event_replay_capacity = 4096;
  /** Events queued per WatchEvents reader before a reader that does not keep up is dropped. */
  std::size_t event_queue_capacity = 8192;
  /** How long stop() lets open streams (events, console) finish before cancelling them. */
  std::chrono::milliseconds stop_grace{500};
};

}  // namespace hal::node

#endif  // HAL_CONTROLLER_NODE_AGENT_OPTIONS_H
