// observed_vms.cc - observed VM states: registration lists, call answers and events in order.
#include "controller/server/observed_vms.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace hal::controller {

void ObservedVms::reset_node(const std::string &name,
                             const std::vector<std::pair<std::string, std::string>> &vms) {
  std::lock_guard lock(mutex_);
  Node &node = nodes_[name];
  for (const auto &[vm_id, state] : node.vms) index_remove(vm_id, name);
  node.vms.clear();
  node.reflected.clear();      // a new boot numbers its events afresh
  node.guest_silence.clear();  // the new agent watches no guest it did not start
  for (const auto &[vm_id, state] : vms) {
    if (node.vms.emplace(vm_id, state).second) index_add(vm_id, name);
  }
}

void ObservedVms::forget_node(const std::string &name) {
  std::lock_guard lock(mutex_);
  auto it = nodes_.find(name);
  if (it == nodes_.end()) return;
  for (const auto &[vm_id, state] : it->second.vms) index_remove(vm_id, name);
  nodes_.erase(it);
}

std::optional<std::string> ObservedVms::state(const std::string &node,
                                              const std::string &vm_id) const {
  std::lock_guard lock(mutex_);
  auto it = nodes_.find(node);
  if (it == nodes_.end()) return std::nullopt;
  auto vm = it->second.vms.find(vm_id);
  return vm == it->second.vms.end() ? std::string() : vm->second;
}

std::map<std::string, std::string> ObservedVms::vms_of(const std::string &node) const {
  std::lock_guard lock(mutex_);
  auto it = nodes_.find(node);
  return it == nodes_.end() ? std::map<std::string, std::string>{} : it->second.vms;
}

std::vector<std::pair<std::string, std::string>> ObservedVms::nodes_with(
    const std::string &vm_id) const {
  std::lock_guard lock(mutex_);
  std::vector<std::pair<std::string, std::string>> result;
  auto where = vm_nodes_.find(vm_id);
  if (where == vm_nodes_.end()) return result;
  for (const std::string &name : where->second) {
    const Node &node = nodes_.at(name);
    if (auto it = node.vms.find(vm_id); it != node.vms.end()) result.emplace_back(name, it->second);
  }
  std::sort(result.begin(), result.end());
  return result;
}

std::string ObservedVms::guest_silence(const std::string &node, const std::string &vm_id) const {
  std::lock_guard lock(mutex_);
  auto it = nodes_.find(node);
  if (it == nodes_.end()) return "";
  auto silence = it->second.guest_silence.find(vm_id);
  return silence == it->second.guest_silence.end() ? std::string() : silence->second;
}

bool ObservedVms::record(const std::string &node, const std::string &vm_id,
                         const std::string &state, uint64_t event_sequence) {
  std::lock_guard lock(mutex_);
  auto it = nodes_.find(node);
  if (it == nodes_.end()) return false;
  if (event_sequence > 0) {
    uint64_t &reflected = it->second.reflected[vm_id];
    reflected = std::max(reflected, event_sequence);
  }
  return record_locked(it->second, node, vm_id, state);
}

bool ObservedVms::observe_event(const std::string &name, const v1::NodeEvent &event) {
  // A deletion is a change to the state "gone" (""), ordered like any other state change.
  const bool deleted = event.type() == "vm-deleted";
  const bool state_changed = event.type() == "state-changed" || deleted;
  const bool crashed = event.type() == "guest-crashed";
  std::lock_guard lock(mutex_);
  auto it = nodes_.find(name);
  if (it == nodes_.end()) return !state_changed;
  Node &node = it->second;
  if (event.type() == "guest-console") {
    nlohmann::json detail = nlohmann::json::parse(event.detail_json(), nullptr, false);
    const bool silent = detail.is_object() && detail.value("silent", false);
    if (silent && node.vms.count(event.vm_id())) {
      node.guest_silence[event.vm_id()] =
          detail.value("message", "no serial console output since the VM started");
    } else {
      node.guest_silence.erase(event.vm_id());
    }
    return true;
  }
  // A state change from before a call's answer already recorded.
  if (state_changed) {
    auto reflected = node.reflected.find(event.vm_id());
    if (reflected != node.reflected.end() && event.sequence() <= reflected->second) return false;
  }
  if ((state_changed || crashed) && (deleted || !event.state().empty())) {
    const std::string state = deleted ? "" : crashed ? "Crashed" : event.state();
    bool changed = record_locked(node, name, event.vm_id(), state);
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

void ObservedVms::begin_action(const std::string &node, const std::string &vm_id) {
  std::lock_guard lock(mutex_);
  auto it = nodes_.find(node);
  if (it != nodes_.end()) ++it->second.actions[vm_id].calls;
}

bool ObservedVms::end_action(const std::string &node, const std::string &vm_id,
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

bool ObservedVms::record_locked(Node &node, const std::string &name, const std::string &vm_id,
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

void ObservedVms::index_add(const std::string &vm_id, const std::string &node) {
  vm_nodes_[vm_id].push_back(node);
}

void ObservedVms::index_remove(const std::string &vm_id, const std::string &node) {
  auto it = vm_nodes_.find(vm_id);
  if (it == vm_nodes_.end()) return;
  std::erase(it->second, node);
  if (it->second.empty()) vm_nodes_.erase(it);
}

}  // namespace hal::controller
