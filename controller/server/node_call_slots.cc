// node_call_slots.cc - per-node call slots for the reconcile workers.
#include "controller/server/node_call_slots.h"

#include <algorithm>
#include <utility>

namespace hal::controller {

NodeCallSlots::Slot::Slot(Slot &&other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)), node_(std::move(other.node_)) {}

NodeCallSlots::Slot::~Slot() {
  if (owner_ != nullptr) owner_->release(node_);
}

NodeCallSlots::NodeCallSlots(std::size_t per_node,
                             std::function<void(const std::string &key)> requeue)
    : per_node_(std::max<std::size_t>(per_node, 1)), requeue_(std::move(requeue)) {}

std::optional<NodeCallSlots::Slot> NodeCallSlots::try_claim(const std::string &node,
                                                            const std::string &key) {
  std::lock_guard lock(mutex_);
  Node &slots = nodes_[node];
  if (slots.busy < per_node_) {
    ++slots.busy;
    return Slot(this, node);
  }
  if (slots.waiting_keys.insert(key).second) slots.waiting.push_back(key);
  return std::nullopt;
}

void NodeCallSlots::release(const std::string &node) {
  std::optional<std::string> next;
  {
    std::lock_guard lock(mutex_);
    auto it = nodes_.find(node);
    if (it == nodes_.end()) return;
    Node &slots = it->second;
    if (slots.busy > 0) --slots.busy;
    if (!slots.waiting.empty()) {
      next = std::move(slots.waiting.front());
      slots.waiting.pop_front();
      slots.waiting_keys.erase(*next);
    } else if (slots.busy == 0) {
      nodes_.erase(it);
    }
  }
  if (next) requeue_(*next);
}

std::size_t NodeCallSlots::in_flight(const std::string &node) const {
  std::lock_guard lock(mutex_);
  auto it = nodes_.find(node);
  return it == nodes_.end() ? 0 : it->second.busy;
}

std::size_t NodeCallSlots::waiting(const std::string &node) const {
  std::lock_guard lock(mutex_);
  auto it = nodes_.find(node);
  return it == nodes_.end() ? 0 : it->second.waiting.size();
}

}  // namespace hal::controller
