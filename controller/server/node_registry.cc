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
    Node node;
    node.info = snapshot_of(stored.key.name, stored.object);
    node.shared_labels = share_labels(node.info.labels);
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
        object = node_object(it->second.info, it->second.boot_id, options_.grace_period,
                             existing ? existing->object : nlohmann::json());
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

std::string NodeRegistry::refuse_report(const std::string &node, const std::string &vm_id,
                                        const std::string &what) {
  if (listener_ == nullptr) return "";
  std::string owner = listener_->vm_assigned_elsewhere(node, vm_id);
  if (owner.empty()) return "";
  std::lock_guard lock(refused_mutex_);
  if (refused_.emplace(node, vm_id + "\n" + owner).second)
    hal::log("controller")
        ->warn(
            "node {} reported VM {} ({}), which is assigned to node {}: ignored (node "
            "restriction: a node reports only on its own VMs)",
            node, vm_id, what, owner);
  return owner;
}

grpc::Status NodeRegistry::Register(grpc::ServerContext *context,
                                    const v1::RegisterNodeRequest *request,
                                    v1::RegisterNodeResponse *response) {
  const v1::NodeInfo &info = request->node();
  if (info.name().empty() || info.address().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "node.name and node.address are required");
  }
  if (grpc::Status allowed =
          options_.peers.require_node(*context, info.name(), "NodeRegistry/Register");
      !allowed.ok())
    return allowed;
  const std::string name = info.name();
  {
    // A new registration logs its refused reports afresh.
    std::lock_guard lock(refused_mutex_);
    std::erase_if(refused_, [&](const auto &entry) { return entry.first == name; });
  }
  // Node restriction: VMs assigned to other nodes are not taken as news of those VMs. They stay
  // in this node's own list, so the orphan pass removes them from this node.
  std::set<std::string> foreign;
  for (const auto &vm : request->vms()) {
    if (!refuse_report(name, vm.vm_id(), "registration, state " + vm.state()).empty())
      foreign.insert(vm.vm_id());
  }
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
    std::vector<std::pair<std::string, std::string>> vms;
    for (const auto &vm : request->vms()) {
      vms.emplace_back(vm.vm_id(), vm.state());
      if (foreign.count(vm.vm_id()) == 0) vm_ids.push_back(vm.vm_id());
    }
    observed_.reset_node(name, vms);
    if (!node.connection || node.connection->address() != info.address() || !was_ready) {
      old_connection = node.connection;
      node.connection = std::make_shared<NodeConnection>(
          name, info.address(),
          [this, name](const v1::NodeEvent &event) {
            if (observed_.observe_event(name, event) && listener_ != nullptr &&
                refuse_report(name, event.vm_id(), "event " + event.type()).empty())
              listener_->node_event(name, event);
          },
          event_poller_, options_.node_credentials ? options_.node_credentials(name) : nullptr);
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

grpc::Status NodeRegistry::Heartbeat(grpc::ServerContext *context,
                                     const v1::HeartbeatRequest *request,
                                     v1::HeartbeatResponse *response) {
  if (grpc::Status allowed =
          options_.peers.require_node(*context, request->node_name(), "NodeRegistry/Heartbeat");
      !allowed.ok())
    return allowed;
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
          object = node_object(it->second.info, it->second.boot_id, options_.grace_period,
                               existing ? existing->object : nlohmann::json());
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

int64_t NodeRegistry::boot_id(const std::string &name) const {
  std::lock_guard lock(mutex_);
  auto it = nodes_.find(name);
  return it == nodes_.end() || !it->second.registered ? 0 : it->second.boot_id;
}

std::string NodeRegistry::guest_silence(const std::string &node, const std::string &vm_id) const {
  return observed_.guest_silence(node, vm_id);
}

std::optional<std::string> NodeRegistry::observed(const std::string &node,
                                                  const std::string &vm_id) const {
  return observed_.state(node, vm_id);
}

NodeRegistry::Action::Action(NodeRegistry &registry, std::string node, std::string vm_id)
    : registry_(registry), node_(std::move(node)), vm_id_(std::move(vm_id)) {
  registry_.observed_.begin_action(node_, vm_id_);
}

NodeRegistry::Action::~Action() {
  if (!ended_) registry_.observed_.end_action(node_, vm_id_, 0);
}

bool NodeRegistry::Action::end(uint64_t answered_sequence) {
  ended_ = true;
  return registry_.observed_.end_action(node_, vm_id_, answered_sequence);
}

bool NodeRegistry::set_observed(const std::string &node, const std::string &vm_id,
                                const std::string &state, uint64_t event_sequence) {
  return observed_.record(node, vm_id, state, event_sequence);
}

std::vector<std::pair<std::string, std::string>> NodeRegistry::find_vm(
    const std::string &vm_id) const {
  std::vector<std::pair<std::string, std::string>> found = observed_.nodes_with(vm_id);
  std::erase_if(found,
                [&](const auto &entry) { return readiness(entry.first) != NodeReadiness::kReady; });
  return found;
}

std::map<std::string, std::string> NodeRegistry::observed_vms(const std::string &node) const {
  if (readiness(node) != NodeReadiness::kReady) return {};
  return observed_.vms_of(node);
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
    nodes_.erase(it);
    observed_.forget_node(name);
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
