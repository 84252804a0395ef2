// reconciler_harness.h - a test bench for one controller reconciler at a time: a memory store, a
// node registry served over gRPC on 127.0.0.1, in-process mock node agents registered with it,
// and the ReconcileContext the reconcilers run on. No reconciler runs by itself: the work queue's
// handler only records the keys queued, so a test drives each pass and sees what it did.
#ifndef HAL_CONTROLLER_SERVER_TESTS_RECONCILER_HARNESS_H
#define HAL_CONTROLLER_SERVER_TESTS_RECONCILER_HARNESS_H

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "controller/node/node_agent.h"
#include "controller/node/tests/test_support.h"
#include "controller/server/reconcile_context.h"
#include "testing/temp_dir.h"

namespace hal::controller::testing {

/** Options with short timings for tests (RPC deadline 5 s, two call slots per node). */
ControllerOptions fast_options();

/** A VirtualMachineInstance manifest `name` for node pool `pool` (1 vCPU, 128Mi), with
 *  `extra_spec` lines (indented by 2) added to its spec. */
std::string vmi_manifest(const std::string &name, const std::string &extra_spec = "",
                         const std::string &pool = "mock");

/** The bench. */
class ReconcilerHarness : public NodeListener {
 public:
  /** A registry serving on 127.0.0.1 with `options`; no node yet. */
  explicit ReconcilerHarness(ControllerOptions options = fast_options());
  ~ReconcilerHarness() override;

  /** Starts a mock node agent `name` (backend `config`) and waits until it is Ready. */
  node::NodeAgent &start_node(const std::string &name,
                              nlohmann::json config = nlohmann::json::object());

  /** The shared parts the reconcilers under test run on. */
  ReconcileContext &shared() { return shared_; }
  /** The call slots behind shared().calls. */
  NodeCallSlots &slots() { return slots_; }
  /** The store. */
  Store &store() { return *store_; }

  /** Stores the object(s) of a YAML manifest with the API's defaults, as Apply does. */
  std::vector<StoredObject> apply(const std::string &manifest);
  /** The stored object (null when absent); `ns` "default". */
  nlohmann::json get(const std::string &kind, const std::string &name) const;
  /** The state node `node`'s agent reports for `vm_id` ("" when it has no such VM). */
  std::string node_state(const std::string &node, const std::string &vm_id);
  /** Whether `key` has been queued since the last clear_queued(). */
  bool queued(const std::string &key) const;
  /** Forgets the keys queued so far. */
  void clear_queued();

  // NodeListener: events are recorded through the registry; nothing else to do here.
  void node_registered(const std::string &, const std::vector<std::string> &) override {}
  void node_not_ready(const std::string &) override {}
  void node_event(const std::string &, const v1::NodeEvent &) override {}

 private:
  ControllerOptions options_;
  ::hal::testing::TempDir dir_{"hal-reconciler-"};
  std::unique_ptr<Store> store_;
  ImageCatalog images_;
  PlacementModel placements_;
  NodeRegistry registry_;
  mutable std::mutex queued_mutex_;
  std::set<std::string> queued_;
  WorkQueue queue_;
  NodeCallSlots slots_;
  ReconcileContext shared_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  std::vector<std::unique_ptr<node::NodeAgent>> agents_;
};

/** Runs `pass` until `done` holds (each pass after the delay it asked for, capped at 100 ms) or
 *  `timeout` passes; returns `done`'s last value. */
bool reconcile_until(const std::function<WorkResult()> &pass, const std::function<bool()> &done,
                     std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace hal::controller::testing

#endif  // HAL_CONTROLLER_SERVER_TESTS_RECONCILER_HARNESS_H
