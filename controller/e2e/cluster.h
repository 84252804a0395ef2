// cluster.h - a whole HAL installation on this machine for end-to-end tests, benchmarks and the
// single-machine demo's checks: hal-controller on an SQLite file (or a given store), hal-node
// agents in node pools on loopback, and halctl to drive them, all over mutual TLS: a cluster CA
// and certificates for the controller, each node and an admin user are made under the temp dir
// (pki/), and halctl runs with a configuration file for the admin. Everything started is stopped
// by PID; the temp dir is removed.
#ifndef HAL_CONTROLLER_E2E_CLUSTER_H
#define HAL_CONTROLLER_E2E_CLUSTER_H

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "controller/tls/tls_options.h"
#include "testing/child_process.h"

namespace hal::e2e {

/** Where the programs under test are. */
struct Binaries {
  std::string controller;   ///< hal-controller
  std::string node;         ///< hal-node
  std::string halctl;       ///< halctl
  std::string plugin_path;  ///< ':'-separated dirs holding the plugins and their manifests
};

/** One node agent to run. */
struct NodeSpec {
  std::string name;  ///< Node name.
  std::string pool;  ///< NodePool name in nodepools.yaml ("qemu" or "mock").
};

/** What to start. */
struct ClusterOptions {
  std::vector<NodeSpec> nodes;  ///< Agents to start.
  std::string nodepools_file;   ///< NodePool manifests (applied, and given to the agents).
  std::string test_guest_dir;   ///< Image dir for "hal/test-guest" (may be empty).
  int heartbeat_ms = 500;       ///< Node heartbeat interval.
  int node_grace_ms = 3000;     ///< Missed-heartbeat grace before a node is NotReady.
  int guest_silence_s = 10;     ///< Agents' --guest-silence-timeout.
  bool bootstrap = false;       ///< Also serve node joins (--bootstrap-listen, --tls-ca-key).
  /** Everything runs with --insecure (plaintext, no authentication) instead: only for the
   *  benchmarks that show what security costs. */
  bool insecure = false;
  /// The controller's --store ("": its SQLite file in the temp dir), e.g. an etcd:// URL.
  std::string store;
  std::vector<std::string> controller_flags;  ///< More hal-controller flags.
};

/** A running installation. */
class Cluster {
 public:
  /** Starts the controller and every node, applies the node pools and waits until every node
   *  is Ready. Throws std::runtime_error (with the logs' tails) when that fails. */
  Cluster(Binaries binaries, ClusterOptions options);
  /** Stops everything it started, including QEMU processes left by killed agents. */
  ~Cluster();

  /** Runs halctl with `args` against this controller. */
  testing::RunResult halctl(const std::vector<std::string> &args,
                            std::chrono::milliseconds timeout = std::chrono::seconds(60),
                            const std::string &input = {});
  /** `halctl get KIND NAME -o json` parsed; null when it does not exist. */
  nlohmann::json get(const std::string &kind, const std::string &name);
  /** Polls `condition` every 100 ms until true or `timeout`. */
  static bool wait_until(const std::function<bool()> &condition, std::chrono::milliseconds timeout);

  /** kill -9 of the controller, or SIGTERM when `hard` is false; then starts it again on the
   *  same store file and waits until every running node is Ready again. */
  void restart_controller(bool hard);
  /** kill -9 of a node agent (its VMs keep running). */
  void kill_node(const std::string &name);
  /** Starts a node agent again (same name, pool, state dir and port). */
  void start_node(const std::string &name);
  /** True while the node's agent process runs. */
  bool node_running(const std::string &name);
  /** The PID of the node's agent, or -1. */
  int node_pid(const std::string &name) const;

  /** The kvm-qemu state dir of a VM on a node (holds qemu.pid and console.log). */
  std::string qemu_vm_dir(const std::string &node, const std::string &vm_id) const;
  /** The guest's serial console log as kvm-qemu recorded it on `node` ("" if none). */
  std::string console_log(const std::string &node, const std::string &vm_id) const;
  /** The PID of the VM's QEMU on `node`, or -1. */
  int qemu_pid(const std::string &node, const std::string &vm_id) const;
  /** Issues a certificate for `user` in `groups` from the cluster CA (pki/user-USER.*) and
   *  returns the files to present it with. */
  tls::TlsOptions issue_user(const std::string &user, const std::vector<std::string> &groups);
  /** The cluster's PKI dir: ca.crt/.key, controller.*, node-NAME.*, user-admin.*. */
  std::string pki_dir() const { return dir_ + "/pki"; }
  /** The halctl configuration file (admin, current context) halctl() uses. */
  std::string halconfig() const { return dir_ + "/halconfig"; }
  /** The node's NodeAgent address (host:port), "" when it never started. */
  std::string node_address(const std::string &name) const;
  /** The controller's NodeBootstrap address ("" without ClusterOptions::bootstrap). */
  const std::string &bootstrap_address() const { return bootstrap_address_; }
  /** The temp dir everything lives in. */
  const std::string &dir() const { return dir_; }
  /** The controller's PID. */
  int controller_pid() const { return controller_ ? controller_->pid() : -1; }
  /** The controller's address (host:port). */
  const std::string &address() const { return address_; }
  /** The logs of every process, for failure messages. */
  std::string logs_tail(size_t bytes_per_log = 3000) const;

 private:
  void start_controller();
  // Makes the CA, the controller's, every node's and the admin's certificates and halconfig.
  void make_pki();
  // --tls-ca, --tls-cert, --tls-key for the certificate pki/<base>.crt.
  std::vector<std::string> tls_flags(const std::string &base) const;
  /** Waits for `process` to print `marker` followed by 127.0.0.1:PORT; returns PORT. */
  int bound_port(testing::ChildProcess &process, const std::string &marker);
  bool all_nodes_ready(std::chrono::milliseconds timeout);

  Binaries bin_;
  ClusterOptions options_;
  std::string dir_;
  std::string address_;
  std::string bootstrap_address_;
  std::unique_ptr<testing::ChildProcess> controller_;
  std::map<std::string, std::unique_ptr<testing::ChildProcess>> nodes_;
  std::map<std::string, int> node_ports_;
};

/** The last heartbeat the guest printed in `console`: {counter, boot_id}, or {-1, ""}. */
std::pair<long, std::string> last_heartbeat(const std::string &console);

}  // namespace hal::e2e

#endif  // HAL_CONTROLLER_E2E_CLUSTER_H
