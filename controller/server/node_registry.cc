// node_registry.cc - NodeRegistry service, node table, heartbeat monitor.
#include "controller/server/node_registry.h"

#include <algorithm>

#include "controller/server/events.h"
#include "controller/server/object_util.h"
#include "core/log/log.h"

namespace hal::controller {
namespace {

// The capabilities of the node's default backend (the first), shared by its scheduling views.
SharedJson default_backend_capabilities(const NodeSnapshot &info) {
  if (info.backends.empty() || !info.capabilities.is_object() ||
      !info.capabilities.contains(info.backends.front()))
    return empty_shared_json();
  return share_json(info.capabilities[info.backends.front()]);
}

nlohmann::json parse_or_empty(const std::string &text) {
  if (text.empty()) return nlohmann::json::object();
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception &) {
    return nlohmann::json::object();
  }
}

}  // namespace

NodeRegistry::NodeRegistry(Store &store, NodeRegistryOptions options, NodeListener *listener)
    : store_(store), options_(options), listener_(listener) {}

NodeRegistry::~NodeRegistry() {
  stop();
}

void NodeRegistry::load_from_store() {
  auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  for (const auto &stored : store_.list(kNodeKind, "")) {
    const auto &object = stored.object;
    Node node;
    node.info.name = stored.key.name;
    const auto &status = object.contains("status") ? object["status"] : nlohmann::json();
    if (status.is_object()) {
      node.info.pool = status.value("pool", "");
      node.info.address = status.value("address", "");
      if (status.contains("backends")) {
        node.info.backends = status["backends"].get<std::vector<std::string>>();
      }
      node.info.capabilities = status.value("capabilities", nlohmann::json::object());
      node.info.host_info = share_json(status.value("hostInfo", nlohmann::json::object()));
      if (status.contains("allocatable")) {
        node.info.allocatable_cpus = status["allocatable"].value("cpu", 0u);
        node.info.allocatable_memory = status["allocatable"].value("memory", uint64_t{0});
      }
    }
    if (object.contains("metadata") && object["metadata"].contains("labels")) {
      node.info.labels = object["metadata"]["labels"].get<std::map<std::string, std::string>>();
    }
    node.shared_labels = share_labels(node.info.labels);
    node.info.unschedulable =
        object.contains("spec") && object["spec"].value("unschedulable", false);
    node.info.readiness = NodeReadiness::kWaiting;
    node.last_heartbeat = now;
    node.last_flush = now;
    nodes_[node.info.name] = std::move(node);
    ++nodes_generation_;
  }
}

void NodeRegistry::start() {
  std::lock_guard lock(mutex_);
  if (monitor_.joinable()) return;
  stopping_ = false;
  monitor_ = std::thread([this] { monitor(); });
}

void NodeRegistry::stop() {
  std::vector<std::shared_ptr<NodeConnection>> connections;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    for (auto &[name, node] : nodes_) {
      if (node.connection) connections.push_back(node.connection);
    }
  }
  cv_.notify_all();
  if (monitor_.joinable()) monitor_.join();
  for (auto &connection : connections) connection->close();
}

nlohmann::json NodeRegistry::node_object(const Node &node, const nlohmann::json &existing) const {
  nlohmann::json object = existing.is_object() ? existing : nlohmann::json::object();
  object["apiVersion"] = "hal.dev/v1";
  object["kind"] = kNodeKind;
  auto &metadata = object["metadata"];
  metadata["name"] = node.info.name;
  if (!metadata.contains("uid")) metadata["uid"] = new_uid();
  if (!metadata.contains("creationTimestamp")) metadata["creationTimestamp"] = now_rfc3339();
  metadata["labels"] = node.info.labels;
  object["spec"]["unschedulable"] = node.info.unschedulable;
  auto &status = object["status"];
  status["pool"] = node.info.pool;
  status["address"] = node.info.address;
  status["backends"] = node.info.backends;
  status["capabilities"] = node.info.capabilities;
  status["hostInfo"] = *node.info.host_info;
  status["allocatable"] = {{"cpu", node.info.allocatable_cpus},
                           {"memory", node.info.allocatable_memory}};
  if (!status.contains("allocated")) status["allocated"] = {{"cpu", "0m"}, {"memory", 0}};
  status["bootId"] = node.boot_id;
  status["lastHeartbeatTime"] = now_rfc3339();
  const bool ready = node.info.readiness == NodeReadiness::kReady;
  set_condition(status["conditions"], "Ready", ready, ready ? "NodeReady" : "NodeStatusUnknown",
                ready ? "hal-node is posting heartbeats"
                      : "hal-node stopped posting heartbeats (grace period " +
                            std::to_string(options_.grace_period.count()) + " ms)");
  return object;
}

void NodeRegistry::write_node(const std::string &name, bool heartbeat_only) {
  StoreKey key{kNodeKind, "", name};
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto existing = store_.get(key);
    nlohmann::json object;
    {
      std::lock_guard lock(mutex_);
      auto it = nodes_.find(name);
      if (it == nodes_.end()) return;
      if (heartbeat_only && existing) {
        object = existing->object;
        object["status"]["lastHeartbeatTime"] = now_rfc3339();
      } else {
        object = node_object(it->second, existing ? existing->object : nlohmann::json());
      }
      it->second.last_flush = std::chrono::steady_clock::now();
    }
    try {
      store_.commit({StoreWrite{existing ? StoreWrite::Op::kUpdate : StoreWrite::Op::kCreate, key,
                                object, existing ? existing->version : 0, false}});
      return;
    } catch (const StoreError &e) {
      if (e.code() != StoreErrorCode::kConflict && e.code() != StoreErrorCode::kAlreadyExists) {
        hal::log("controller")->warn("node {}: cannot store: {}", name, e.what());
        return;
      }
    }
  }
}

grpc::Status NodeRegistry::Register(grpc::ServerContext *, const v1::RegisterNodeRequest *request,
                                    v1::RegisterNodeResponse *response) {
  const v1::NodeInfo &info = request->node();
  if (info.name().empty() || info.address().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "node.name and node.address are required");
  }
  const std::string name = info.name();
  std::shared_ptr<NodeConnection> old_connection;
  std::shared_ptr<NodeConnection> connection;
  std::vector<std::string> vm_ids;
  bool was_ready = false;
  {
    std::lock_guard lock(mutex_);
    Node &node = nodes_[name];
    was_ready = node.registered && node.info.readiness == NodeReadiness::kReady &&
                node.boot_id == info.boot_id();
    node.info.name = name;
    node.info.pool = info.pool();
    node.info.address = info.address();
    node.info.backends.assign(info.backends().begin(), info.backends().end());
    node.info.capabilities = parse_or_empty(info.capabilities_json());
    node.info.host_info = share_json(parse_or_empty(info.host_info_json()));
    nlohmann::json labels = parse_or_empty(info.labels_json());
    node.info.labels.clear();
    for (const auto &[key, value] : labels.items()) {
      if (value.is_string()) node.info.labels[key] = value.get<std::string>();
    }
    if (node.info.labels.count("hal.dev/pool") == 0 && !info.pool().empty()) {
      node.info.labels["hal.dev/pool"] = info.pool();
    }
    if (node.info.labels.count("kubernetes.io/hostname") == 0) {
      node.info.labels["kubernetes.io/hostname"] = name;
    }
    node.shared_labels = share_labels(node.info.labels);
    node.info.allocatable_cpus = info.allocatable_cpus();
    node.info.allocatable_memory = info.allocatable_memory_bytes();
    node.info.readiness = NodeReadiness::kReady;
    ++nodes_generation_;
    node.boot_id = info.boot_id();
    node.last_heartbeat = std::chrono::steady_clock::now();
    node.registered = true;
    for (const auto &[vm_id, state] : node.vms) index_remove(vm_id, name);
    node.vms.clear();
    node.reflected.clear();      // a new boot numbers its events afresh
    node.guest_silence.clear();  // the new agent watches no guest it did not start
    for (const auto &vm : request->vms()) {
      if (node.vms.emplace(vm.vm_id(), vm.state()).second) index_add(vm.vm_id(), name);
      vm_ids.push_back(vm.vm_id());
    }
    if (!node.connection || node.connection->address() != info.address() || !was_ready) {
      old_connection = node.connection;
      node.connection = std::make_shared<NodeConnection>(
          name, info.address(),
          [this, name](const v1::NodeEvent &event) {
            if (observe_event(name, event) && listener_ != nullptr)
              listener_->node_event(name, event);
          },
          event_poller_);
      connection = node.connection;
    }
  }
  // The agent restarted: its pending stops are sent again on the new connection.
  if (old_connection) old_connection->close();
  // Keep the stored spec (cordon) when the node object exists.
  if (auto existing = store_.get(StoreKey{kNodeKind, "", name})) {
    std::lock_guard lock(mutex_);
    nodes_[name].info.unschedulable =
        existing->object.contains("spec") && existing->object["spec"].value("unschedulable", false);
    ++nodes_generation_;
  }
  write_node(name, false);
  if (connection) connection->start_events();
  hal::log("controller")
      ->info("node {} registered ({} at {}, {} VMs)", name, info.pool(), info.address(),
             vm_ids.size());
  if (listener_ != nullptr) listener_->node_registered(name, vm_ids);
  response->set_heartbeat_interval_ms(static_cast<uint32_t>(options_.heartbeat_interval.count()));
  return grpc::Status::OK;
}

grpc::Status NodeRegistry::Heartbeat(grpc::ServerContext *, const v1::HeartbeatRequest *request,
                                     v1::HeartbeatResponse *response) {
  bool flush = false;
  {
    std::lock_guard lock(mutex_);
    auto it = nodes_.find(request->node_name());
    if (it == nodes_.end() || !it->second.registered || it->second.boot_id != request->boot_id() ||
        it->second.info.readiness != NodeReadiness::kReady) {
      response->set_reregister(true);
      return grpc::Status::OK;
    }
    auto now = std::chrono::steady_clock::now();
    it->second.last_heartbeat = now;
    flush = now - it->second.last_flush >= options_.status_flush;
  }
  if (flush) write_node(request->node_name(), true);
  response->set_reregister(false);
  return grpc::Status::OK;
}

void NodeRegistry::monitor() {
  auto tick = std::min<std::chrono::milliseconds>(options_.heartbeat_interval / 2,
                                                  std::chrono::milliseconds(250));
  if (tick.count() <= 0) tick = std::chrono::milliseconds(10);
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    cv_.wait_for(lock, tick);
    if (stopping_) break;
    auto now = std::chrono::steady_clock::now();
    std::vector<std::string> lost;
    std::vector<std::shared_ptr<NodeConnection>> connections;
    for (auto &[name, node] : nodes_) {
      if (node.info.readiness == NodeReadiness::kNotReady) continue;
      if (now - node.last_heartbeat > options_.grace_period) {
        node.info.readiness = NodeReadiness::kNotReady;
        ++nodes_generation_;
        lost.push_back(name);
        if (node.connection) connections.push_back(node.connection);
      }
    }
    if (lost.empty()) continue;
    lock.unlock();
    for (auto &connection : connections) connection->stop_events();
    for (const std::string &name : lost) {
      hal::log("controller")
          ->warn("node {} is NotReady: no heartbeat for {} ms", name,
                 options_.grace_period.count());
      StoreKey key{kNodeKind, "", name};
      try {
        auto existing = store_.get(key);
        nlohmann::json object;
        {
          std::lock_guard guard(mutex_);
          auto it = nodes_.find(name);
          if (it == nodes_.end()) continue;  // forgotten meanwhile
          object = node_object(it->second, existing ? existing->object : nlohmann::json());
        }
        store_.commit({StoreWrite{StoreWrite::Op::kPut, key, object, 0, false},
                       record_event(store_, key, EventType::kWarning, "NodeNotReady",
                                    "Node " + name + " stopped posting heartbeats")});
      } catch (const std::exception &e) {
        hal::log("controller")->warn("node {}: cannot store NotReady: {}", name, e.what());
      }
      if (listener_ != nullptr) listener_->node_not_ready(name);
    }
    lock.lock();
  }
}

std::vector<NodeSnapshot> NodeRegistry::nodes() const {
  std::lock_guard lock(mutex_);
  std::vector<NodeSnapshot> result;
  for (const auto &[name, node] : nodes_) result.push_back(node.info);
  return result;
}

std::optional<NodeSnapshot> NodeRegistry::node(const std::string &name) const {
  std::lock_guard lock(mutex_);
  auto it = nodes_.find(name);
  if (it == nodes_.end()) return std::nullopt;
  return it->second.info;
}

std::shared_ptr<NodeConnection> NodeRegistry::connection(const std::string &name) const {
  std::lock_guard lock(mutex_);
  auto it = nodes_.find(name);
  return it == nodes_.end() ? nullptr : it->second.connection;
}

NodeReadiness NodeRegistry::readiness(const std::string &name) const {
  std::lock_guard lock(mutex_);
  auto it = nodes_.find(name);
  return it == nodes_.end() ? NodeReadiness::kNotReady : it->second.info.readiness;
}

std::string NodeRegistry::guest_silence(const std::string &node, const std::string &vm_id) const {
  std::lock_guard lock(mutex_);
  auto it = nodes_.find(node);
  if (it == nodes_.end()) return "";
  auto silence = it->second.guest_silence.find(vm_id);
  return silence == it->second.guest_silence.end() ? std::string() : silence->second;
}

std::optional<std::string> NodeRegistry::observed(const std::string &node,
                                                  const std::string &vm_id) const {
  std::lock_guard lock(mutex_);
  auto it = nodes_.find(node);
  if (it == nodes_.end() || !it->second.registered) return std::nullopt;
  auto vm = it->second.vms.find(vm_id);
  return vm == it->second.vms.end() ? std::string() : vm->second;
}

void NodeRegistry::begin_action(const std::string &node, const std::string &vm_id) {
  std::lock_guard lock(mutex_);
  auto it = nodes_.find(node);
  if (it != nodes_.end()) ++it->second.actions[vm_id].calls;
}

bool NodeRegistry::end_action(const std::string &node, const std::string &vm_id,
                              uint64_t answered_sequence) {
  std::lock_guard lock(mutex_);
  auto it = nodes_.find(node);
  if (it == nodes_.end()) return false;
  auto action = it->second.actions.find(vm_id);
  if (action == it->second.actions.end()) return false;
  const bool newer = action->second.held > answered_sequence;
  if (--action->second.calls <= 0) it->second.actions.erase(action);
  return newer;
}

NodeRegistry::Action::Action(NodeRegistry &registry, std::string node, std::string vm_id)
    : registry_(registry), node_(std::move(node)), vm_id_(std::move(vm_id)) {
  registry_.begin_action(node_, vm_id_);
}

NodeRegistry::Action::~Action() {
  if (!ended_) registry_.end_action(node_, vm_id_, 0);
}

bool NodeRegistry::Action::end(uint64_t answered_sequence) {
  ended_ = true;
  return registry_.end_action(node_, vm_id_, answered_sequence);
}

bool NodeRegistry::observe_event(const std::string &name, const v1::NodeEvent &event) {
  // A deletion is a change to the state "gone" (""), ordered like any other state change.
  const bool deleted = event.type() == "vm-deleted";
  const bool state_changed = event.type() == "state-changed" || deleted;
  const bool crashed = event.type() == "guest-crashed";
  std::lock_guard lock(mutex_);
  auto it = nodes_.find(name);
  if (it == nodes_.end()) return !state_changed;
  Node &node = it->second;
  if (event.type() == "guest-console") {
    const nlohmann::json detail = parse_or_empty(event.detail_json());
    const bool silent = detail.is_object() && detail.value("silent", false);
    if (silent && node.vms.count(event.vm_id())) {
      node.guest_silence[event.vm_id()] =
          detail.value("message", "no serial console output since the VM started");
    } else {
      node.guest_silence.erase(event.vm_id());
    }
    return true;
  }
  // A state change from before an RPC answer the controller already recorded.
  if (state_changed) {
    auto reflected = node.reflected.find(event.vm_id());
    if (reflected != node.reflected.end() && event.sequence() <= reflected->second) return false;
  }
  if ((state_changed || crashed) && (deleted || !event.state().empty())) {
    const std::string state = deleted ? "" : crashed ? "Crashed" : event.state();
    bool changed = record_state(node, name, event.vm_id(), state);
    // The echo of a state already recorded (e.g. from CreateVm's answer) needs no reconcile.
    if (!changed && state_changed) return false;
  }
  // An action on the VM is in flight: its caller acts on the answer (see end_action).
  if (state_changed) {
    auto action = node.actions.find(event.vm_id());
    if (action != node.actions.end()) {
      action->second.held = std::max(action->second.held, event.sequence());
      return false;
    }
  }
  return true;
}

bool NodeRegistry::set_observed(const std::string &node, const std::string &vm_id,
                                const std::string &state, uint64_t event_sequence) {
  std::lock_guard lock(mutex_);
  auto it = nodes_.find(node);
  if (it == nodes_.end()) return false;
  if (event_sequence > 0) {
    uint64_t &reflected = it->second.reflected[vm_id];
    reflected = std::max(reflected, event_sequence);
  }
  return record_state(it->second, node, vm_id, state);
}

bool NodeRegistry::record_state(Node &node, const std::string &name, const std::string &vm_id,
                                const std::string &state) {
  if (state != "Running" && state != "Paused") node.guest_silence.erase(vm_id);
  if (state.empty()) {
    node.reflected.erase(vm_id);
    if (node.vms.erase(vm_id) == 0) return false;
    index_remove(vm_id, name);
    return true;
  }
  auto [vm, added] = node.vms.try_emplace(vm_id, state);
  if (added) {
    index_add(vm_id, name);
    return true;
  }
  if (vm->second == state) return false;
  vm->second = state;
  return true;
}

std::vector<std::pair<std::string, std::string>> NodeRegistry::find_vm(
    const std::string &vm_id) const {
  std::lock_guard lock(mutex_);
  std::vector<std::pair<std::string, std::string>> result;
  auto where = vm_nodes_.find(vm_id);
  if (where == vm_nodes_.end()) return result;
  for (const std::string &name : where->second) {
    auto node = nodes_.find(name);
    if (node == nodes_.end() || node->second.info.readiness != NodeReadiness::kReady) continue;
    if (auto it = node->second.vms.find(vm_id); it != node->second.vms.end())
      result.emplace_back(name, it->second);
  }
  std::sort(result.begin(), result.end());  // By node name, as a scan of the nodes gives them.
  return result;
}

void NodeRegistry::index_add(const std::string &vm_id, const std::string &node) {
  vm_nodes_[vm_id].push_back(node);
}

void NodeRegistry::index_remove(const std::string &vm_id, const std::string &node) {
  auto it = vm_nodes_.find(vm_id);
  if (it == vm_nodes_.end()) return;
  std::erase(it->second, node);
  if (it->second.empty()) vm_nodes_.erase(it);
}

std::map<std::string, std::string> NodeRegistry::observed_vms(const std::string &node) const {
  std::lock_guard lock(mutex_);
  auto it = nodes_.find(node);
  if (it == nodes_.end() || it->second.info.readiness != NodeReadiness::kReady) return {};
  return it->second.vms;
}

bool NodeRegistry::set_unschedulable(const std::string &name, bool unschedulable) {
  {
    std::lock_guard lock(mutex_);
    auto it = nodes_.find(name);
    if (it == nodes_.end()) return false;
    it->second.info.unschedulable = unschedulable;
    ++nodes_generation_;
  }
  StoreKey key{kNodeKind, "", name};
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto existing = store_.get(key);
    if (!existing) {
      write_node(name, false);
      return true;
    }
    nlohmann::json object = existing->object;
    if (object["spec"].value("unschedulable", false) == unschedulable) return true;
    object["spec"]["unschedulable"] = unschedulable;
    try {
      store_.commit({StoreWrite{StoreWrite::Op::kUpdate, key, object, existing->version, false},
                     record_event(store_, key, EventType::kNormal,
                                  unschedulable ? "NodeNotSchedulable" : "NodeSchedulable",
                                  unschedulable ? "Node " + name + " cordoned"
                                                : "Node " + name + " uncordoned")});
      return true;
    } catch (const StoreError &e) {
      if (e.code() != StoreErrorCode::kConflict) throw;
    }
  }
  return true;
}

void NodeRegistry::forget(const std::string &name) {
  std::shared_ptr<NodeConnection> connection;
  {
    std::lock_guard lock(mutex_);
    auto it = nodes_.find(name);
    if (it == nodes_.end()) return;
    connection = it->second.connection;
    for (const auto &[vm_id, state] : it->second.vms) index_remove(vm_id, name);
    nodes_.erase(it);
    ++nodes_generation_;
  }
  if (connection) connection->close();
}

std::shared_ptr<const std::vector<SchedulerNode>> NodeRegistry::scheduler_views() const {
  std::lock_guard lock(mutex_);
  if (views_ && views_generation_ == nodes_generation_) return views_;
  auto views = std::make_shared<std::vector<SchedulerNode>>();
  views->reserve(nodes_.size());
  for (const auto &[name, node] : nodes_) {
    SchedulerNode view;
    view.name = name;
    view.labels = node.shared_labels;
    view.ready = node.info.readiness == NodeReadiness::kReady;
    view.unschedulable = node.info.unschedulable;
    if (!node.info.backends.empty()) view.backend = node.info.backends.front();
    view.capabilities = default_backend_capabilities(node.info);
    view.host_info = node.info.host_info;
    view.allocatable_cpus = node.info.allocatable_cpus;
    view.allocatable_memory = node.info.allocatable_memory;
    views->push_back(std::move(view));
  }
  views_ = std::move(views);
  views_generation_ = nodes_generation_;
  return views_;
}

}  // namespace hal::controller
