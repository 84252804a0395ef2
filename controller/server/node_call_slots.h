// node_call_slots.h - bounds how many reconcile workers one node can hold at once. Each blocking
// call a worker makes to a node takes one of that node's slots; a worker that finds them all
// taken leaves its key waiting instead of blocking, and the key is queued again as soon as one
// of the node's calls ends. A node whose calls hang (a stuck hypervisor that still heartbeats)
// then holds at most its slots, and the other nodes' work goes on.
#ifndef HAL_CONTROLLER_SERVER_NODE_CALL_SLOTS_H
#define HAL_CONTROLLER_SERVER_NODE_CALL_SLOTS_H

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

namespace hal::controller {

/** How soon a key that found no slot looks again by itself. A freed slot wakes one waiting key,
 *  and that key may no longer need a call; the others then find the free slot at this check. */
inline constexpr std::chrono::milliseconds kSlotRecheck{1000};

/** Per-node call slots with a waiting list of work-queue keys. Thread-safe. */
class NodeCallSlots {
 public:
  /** A slot held for one call; released on destruction, which queues the node's longest
   *  waiting key again. */
  class Slot {
   public:
    Slot(Slot &&other) noexcept;
    Slot &operator=(Slot &&) = delete;
    Slot(const Slot &) = delete;
    Slot &operator=(const Slot &) = delete;
    ~Slot();

   private:
    friend class NodeCallSlots;
    Slot(NodeCallSlots *owner, std::string node) : owner_(owner), node_(std::move(node)) {}
    NodeCallSlots *owner_;
    std::string node_;
  };

  /** `per_node` slots for each node (at least 1); `requeue` queues a waiting key again (it runs
   *  on the thread releasing a slot, with no lock held). */
  NodeCallSlots(std::size_t per_node, std::function<void(const std::string &key)> requeue);

  /** A slot of `node`, or nullopt when all of them are taken: `key` then waits, once however
   *  often it asks, until one of them is released. */
  std::optional<Slot> try_claim(const std::string &node, const std::string &key);

  /** Calls to `node` holding a slot now. */
  std::size_t in_flight(const std::string &node) const;
  /** Keys waiting for a slot of `node`. */
  std::size_t waiting(const std::string &node) const;
  /** Slots per node. */
  std::size_t per_node() const { return per_node_; }

 private:
  struct Node {
    std::size_t busy = 0;
    std::deque<std::string> waiting;  // oldest first
    std::set<std::string> waiting_keys;
  };
  void release(const std::string &node);

  const std::size_t per_node_;
  const std::function<void(const std::string &)> requeue_;
  mutable std::mutex mutex_;
  std::map<std::string, Node> nodes_;
};

}  // namespace hal::controller

#endif  // HAL_CONTROLLER_SERVER_NODE_CALL_SLOTS_H
