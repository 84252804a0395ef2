// reconciler_harness.cc - the reconciler test bench: store, served registry, mock agents.
#include "controller/server/tests/reconciler_harness.h"

#include <stdexcept>
#include <thread>

#include "controller/api/kubevirt_api.h"
#include "controller/server/object_util.h"

namespace hal::controller::testing {

using nlohmann::json;
using namespace std::chrono_literals;

ControllerOptions fast_options() {
  ControllerOptions options;
  options.nodes.heartbeat_interval = 100ms;
  options.nodes.grace_period = 2000ms;
  options.rpc_timeout = 5s;
  options.calls_per_node = 2;
  options.workers = 4;
  options.resync_interval = 200ms;
  options.migration.poll_interval = 20ms;
  return options;
}

std::string vmi_manifest(const std::string &name, const std::string &extra_spec,
                         const std::string &pool) {
  return "apiVersion: kubevirt.io/v1\nkind: VirtualMachineInstance\nmetadata:\n  name: " + name +
         "\nspec:\n  nodeSelector:\n    hal.dev/pool: " + pool + "\n" + extra_spec +
         "  domain:\n    cpu:\n      cores: 1\n    resources:\n      requests:\n"
         "        memory: 128Mi\n    devices: {}\n";
}

ReconcilerHarness::ReconcilerHarness(ControllerOptions options)
    : options_(options),
      store_(open_store("memory")),
      images_({}, ""),
      registry_(*store_, options_.nodes, this),
      queue_(WorkQueueOptions{1, 10ms, 100ms},
             [this](const std::string &key) {
               std::lock_guard lock(queued_mutex_);
               queued_.insert(key);
               return WorkResult::done();
             }),
      slots_(options_.calls_per_node, [this](const std::string &key) { queue_.add(key); }),
      shared_(*store_, images_, options_, registry_, queue_, slots_, placements_) {
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&registry_);
  server_ = builder.BuildAndStart();
  if (!server_ || port == 0) throw std::runtime_error("reconciler harness: cannot listen");
  address_ = "127.0.0.1:" + std::to_string(port);
  registry_.start();
  queue_.start();
}

ReconcilerHarness::~ReconcilerHarness() {
  for (auto &agent : agents_) agent->stop();
  agents_.clear();
  queue_.stop();
  registry_.stop();
  server_->Shutdown(std::chrono::system_clock::now() + 2s);
}

node::NodeAgent &ReconcilerHarness::start_node(const std::string &name, json config) {
  config["instance"] = name + "-" + std::to_string(reinterpret_cast<uintptr_t>(this));
  auto options = node::testing::mock_agent_options(name, dir_.path() / name, config);
  options.controller = address_;
  options.heartbeat_interval = 100ms;
  agents_.push_back(std::make_unique<node::NodeAgent>(options));
  agents_.back()->start();
  if (!node::testing::wait_until([&] { return registry_.readiness(name) == NodeReadiness::kReady; },
                                 10s)) {
    throw std::runtime_error("node " + name + " never became Ready");
  }
  return *agents_.back();
}

std::vector<StoredObject> ReconcilerHarness::apply(const std::string &manifest) {
  std::vector<StoredObject> stored;
  for (const json &document : parse_manifests(manifest)) {
    json object = apply_defaults(document);
    StoreKey key = key_of(object);
    object["metadata"]["namespace"] = key.ns;
    object["metadata"]["uid"] = new_uid();
    object["metadata"]["generation"] = 1;
    if (!object.contains("status")) object["status"] = json::object();
    stored.push_back(store_->create(key, object));
  }
  return stored;
}

json ReconcilerHarness::get(const std::string &kind, const std::string &name) const {
  auto stored = store_->get(StoreKey{kind, "default", name});
  return stored ? stored->object : json();
}

std::string ReconcilerHarness::node_state(const std::string &node, const std::string &vm_id) {
  for (auto &agent : agents_) {
    if (agent->options().node_name != node) continue;
    auto stub = node::testing::node_stub(agent->address());
    v1::VmRef ref;
    ref.set_vm_id(vm_id);
    v1::VmStatus status;
    auto context = node::testing::deadline_context(5s);
    return stub->GetVm(context.get(), ref, &status).ok() ? status.state() : "";
  }
  return "";
}

bool ReconcilerHarness::queued(const std::string &key) const {
  std::lock_guard lock(queued_mutex_);
  return queued_.count(key) > 0;
}

void ReconcilerHarness::clear_queued() {
  std::lock_guard lock(queued_mutex_);
  queued_.clear();
}

bool reconcile_until(const std::function<WorkResult()> &pass, const std::function<bool()> &done,
                     std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    WorkResult result = pass();
    std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(
        result.requeue.value_or(std::chrono::milliseconds(10)), 100ms));
  }
  return true;
}

}  // namespace hal::controller::testing
