// registrar.h - keeps the node registered with hal-controller's NodeRegistry: Register (with
// the node's info and every VM it runs), then Heartbeat every interval. When the controller
// answers reregister=true, or cannot be reached, it registers again, retrying with exponential
// back-off until the controller is back. VMs are served meanwhile; nothing here blocks them.
#ifndef HAL_CONTROLLER_NODE_REGISTRAR_H
#define HAL_CONTROLLER_NODE_REGISTRAR_H

#include <grpcpp/security/credentials.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "hal/v1/node.grpc.pb.h"

namespace hal::node {

/** Counters of what the registrar did (for logs and tests). */
struct RegistrarStats {
  uint64_t registrations = 0;  ///< Successful Register calls.
  uint64_t heartbeats = 0;     ///< Successful Heartbeat calls.
  uint64_t failures = 0;       ///< Failed calls (controller unreachable or erroring).
  bool registered = false;     ///< The last call succeeded and no re-register is pending.
  std::chrono::milliseconds interval{0};  ///< Heartbeat interval in use.
};

/** Runs the registration / heartbeat loop on its own thread. */
class Registrar {
 public:
  /** What the registrar needs from the agent. */
  struct Config {
    std::string controller;                                 ///< host:port of NodeRegistry.
    std::string node_name;                                  ///< For Heartbeat.
    int64_t boot_id = 0;                                    ///< For Heartbeat.
    std::chrono::milliseconds heartbeat_interval{5000};     ///< Until Register says otherwise.
    std::chrono::milliseconds max_backoff{2000};            ///< Longest retry wait.
    std::function<v1::RegisterNodeRequest()> registration;  ///< Node info + current VMs.
    std::function<uint64_t()> last_event_sequence;          ///< For Heartbeat.
    /// The node's TLS identity towards the controller; null: plaintext.
    std::shared_ptr<grpc::ChannelCredentials> credentials;
  };

  /** A registrar (not yet running). */
  explicit Registrar(Config config);
  /** Stops the loop. */
  ~Registrar();

  /** Starts the loop thread. */
  void start();
  /** Stops the loop and joins the thread (an RPC in flight is cancelled). */
  void stop();
  /** A snapshot of the counters. */
  RegistrarStats stats() const;

 private:
  void run();
  bool do_register();
  // Heartbeat; false when the node must register again.
  bool do_heartbeat();
  // Waits `delay` or until stop(); false when stopping.
  bool sleep_for(std::chrono::milliseconds delay);

  Config config_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::NodeRegistry::Stub> stub_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool failing_ = false;  // the last Register failed (log the next failures quietly)
  grpc::ClientContext *in_flight_ = nullptr;
  RegistrarStats stats_;
  std::thread thread_;
};

}  // namespace hal::node

#endif  // HAL_CONTROLLER_NODE_REGISTRAR_H
