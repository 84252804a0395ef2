// etcd_cluster.h - etcd members on loopback for tests and benchmarks: N members of one cluster
// (Debian's etcd-server), each on two free loopback ports (client, peer) with its own data dir
// under a private temp dir, started in their own process groups, waited for (bounded), killed by
// PID at the end. A member can be killed (-9) and started again on its ports and data. Short
// raft timings (50 ms heartbeat, 500 ms election) so that failover is quick.
#ifndef HAL_TESTING_ETCD_CLUSTER_H
#define HAL_TESTING_ETCD_CLUSTER_H

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "testing/child_process.h"
#include "testing/temp_dir.h"

namespace hal::testing {

/** What to start. */
struct EtcdClusterOptions {
  int members = 1;  ///< Cluster size.
  /** TLS on the client port: PEM files (written by the caller) of the members' serving
   *  certificate, its key and the CA that client certificates must be signed by
   *  (--client-cert-auth). Empty: plaintext. */
  std::string cert_file, key_file, client_ca_file;
  /** More etcd flags for every member (e.g. --max-txn-ops). */
  std::vector<std::string> extra_args;
  /** How long the members may take to serve clients. */
  std::chrono::milliseconds startup_timeout{std::chrono::seconds(30)};
};

/** A running etcd cluster on loopback. */
class EtcdCluster {
 public:
  /** The etcd program ($HAL_ETCD, else "etcd" on PATH), nullopt when it is not installed. */
  static std::optional<std::string> binary();

  /** Starts every member and waits until each serves clients. Throws std::runtime_error (with
   *  the log's tail) when one does not within the startup timeout. */
  explicit EtcdCluster(EtcdClusterOptions options = {});
  /** Kills every member (SIGKILL by PID) and removes the data. */
  ~EtcdCluster();
  EtcdCluster(const EtcdCluster &) = delete;
  EtcdCluster &operator=(const EtcdCluster &) = delete;

  /** "127.0.0.1:PORT,..." of the members' client ports. */
  std::string endpoints() const;
  /** "etcd://ENDPOINTS" plus `suffix` (e.g. "/prefix"), for open_store. */
  std::string url(const std::string &suffix = "") const;
  /** Member `i`'s "127.0.0.1:PORT". */
  std::string endpoint(int i) const;
  /** Member `i`'s PID (-1 when not running). */
  int pid(int i) const;
  /** SIGKILL to member `i`, reaped. */
  void kill(int i);
  /** Starts member `i` again on its ports and data dir; waits until it serves clients. */
  void start(int i);
  /** The members' log tails, for failure messages. */
  std::string logs_tail(size_t bytes = 2000) const;

 private:
  struct Member {
    int client_port = 0;
    int peer_port = 0;
    std::unique_ptr<ChildProcess> process;
  };
  std::vector<std::string> argv(int i, bool first) const;

  EtcdClusterOptions options_;
  std::string binary_;
  TempDir dir_{"hal-etcd-"};
  std::string token_;
  std::vector<Member> members_;
};

}  // namespace hal::testing

#endif  // HAL_TESTING_ETCD_CLUSTER_H
