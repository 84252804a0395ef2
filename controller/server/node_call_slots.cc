// node_call_slots.cc - per-node call slots for the reconcile workers.
#include "controller/server/node_call_slots.h"

#include <algorithm>
#include <utility>

namespace hal::controller {

NodeCallSlots::Slot::Slot(Slot &&other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)),
      node_(std::move(other.node_)),
      key_(std::move(other.key_)) {}

NodeCallSlots::Slot::~Slot() {
  if (owner_ != nullptr) owner_->release(node_, key_);
}

NodeCallSlots::NodeCallSlots(std::size_t per_node,
                             std::function<void(const std::string &key)> requeue)
    : per_node_(std::max<std::size_t>(per_node, 1)), requeue_(std::move(requeue)) {}

std::optional<NodeCallSlots::Slot> NodeCallSlots::try_claim(const std::string &node,
                                                            const std::string &key) {
  std::lock_guard lock(mutex_);
  Node &slots = nodes_[node];
  if (auto slot = claim_locked(slots, node, key)) return slot;
  if (slots.waiting_keys.insert(key).second) slots.waiting.push_back(key);
  return std::nullopt;
}

std::optional<NodeCallSlots::Slot> NodeCallSlots::claim_within(const std::string &node,
                                                               const std::string &key,
                                                               std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(mutex_);
  for (;;) {
    if (auto slot = claim_locked(nodes_[node], node, key)) return slot;
    if (released_.wait_until(lock, deadline) == std::cv_status::timeout) {
      if (auto slot = claim_locked(nodes_[node], node, key)) return slot;
      auto it = nodes_.find(node);
      if (it != nodes_.end() && it->second.holders.empty() && it->second.waiting.empty())
        nodes_.erase(it);
      return std::nullopt;
    }
  }
}

std::optional<NodeCallSlots::Slot> NodeCallSlots::claim_locked(Node &slots, const std::string &node,
                                                               const std::string &key) {
  auto held = slots.holders.find(key);
  if (held == slots.holders.end() && slots.holders.size() >= per_node_) return std::nullopt;
  ++slots.holders[key];
  return Slot(this, node, key);
}

void NodeCallSlots::release(const std::string &node, const std::string &key) {
  std::optional<std::string> next;
  {
    std::lock_guard lock(mutex_);
    auto it = nodes_.find(node);
    if (it == nodes_.end()) return;
    Node &slots = it->second;
    auto held = slots.holders.find(key);
    if (held == slots.holders.end() || --held->second > 0) return;  // still shared
    slots.holders.erase(held);
    if (!slots.waiting.empty()) {
      next = std::move(slots.waiting.front());
      slots.waiting.pop_front();
      slots.waiting_keys.erase(*next);
    } else if (slots.holders.empty()) {
      nodes_.erase(it);
    }
  }
  released_.notify_all();
  if (next) requeue_(*next);
}

std::size_t NodeCallSlots::in_flight(const std::string &node) const {
  std::lock_guard lock(mutex_);
  auto it = nodes_.find(node);
  return it == nodes_.end() ? 0 : it->second.holders.size();
}

std::size_t NodeCallSlots::waiting(const std::string &node) const {
  std::lock_guard lock(mutex_);
  auto it = nodes_.find(node);
  return it == nodes_.end() ? 0 : it->second.waiting.size();
}

}  // namespace hal::controller
