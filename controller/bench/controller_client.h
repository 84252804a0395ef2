// controller_client.h - a thin gRPC client of the Controller service for the benchmarks: apply
// manifests, read the store revision, and record when each VirtualMachineInstance first reached a
// phase, from the Watch stream.
#ifndef HAL_CONTROLLER_BENCH_CONTROLLER_CLIENT_H
#define HAL_CONTROLLER_BENCH_CONTROLLER_CLIENT_H

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "hal/v1/controller.grpc.pb.h"

namespace hal::bench {

using Clock = std::chrono::steady_clock;

/** Client of one hal-controller. */
class ControllerClient {
 public:
  /** Connects to `address` (host:port) with `credentials` (the cluster's mutual TLS). */
  ControllerClient(const std::string &address,
                   std::shared_ptr<grpc::ChannelCredentials> credentials);
  /** Stops the watch. */
  ~ControllerClient();

  /** Applies `manifest`; throws std::runtime_error with the server's message on failure. */
  void apply(const std::string &manifest);
  /** Reads one object; throws std::runtime_error with the server's message on failure. */
  void get(const std::string &kind, const std::string &ns, const std::string &name);
  /** Deletes one object; returns the gRPC status (the benchmarks check a denial with it). */
  grpc::Status remove(const std::string &kind, const std::string &ns, const std::string &name);
  /** The store revision (List of `kind`'s resource_version). */
  int64_t revision(const std::string &kind);
  /** Number of objects of `kind`. */
  size_t count(const std::string &kind);

  /** Starts watching VirtualMachineInstances from now; records the first time each reaches
   *  `phase`. */
  void watch_phase(const std::string &phase);
  /** Waits until `n` VMIs reached the phase (false on timeout). */
  bool wait_reached(size_t n, std::chrono::milliseconds timeout);
  /** When the VMI `name` first reached the phase (nullopt-like: Clock::time_point{} if never). */
  Clock::time_point reached_at(const std::string &name);

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<hal::v1::Controller::Stub> stub_;
  grpc::ClientContext watch_context_;
  std::thread watcher_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, Clock::time_point> reached_;
};

}  // namespace hal::bench

#endif  // HAL_CONTROLLER_BENCH_CONTROLLER_CLIENT_H
