// node_call_slots.h - bounds how many reconcile workers one node can hold at once. Each blocking
// call a worker makes to a node takes one of that node's slots; a worker that finds them all
// taken leaves its key waiting instead of blocking, and the key is queued again as soon as one
// of the node's calls ends. A node whose calls hang (a stuck hypervisor that still heartbeats)
// then holds at most its slots, and the other nodes' work goes on. A key already holding a slot of
// a node shares it (one key is handled by one worker at a time, which makes one call at a time).
// Callers outside the workers (Controller API handlers) wait for a slot, up to a deadline.
#ifndef HAL_CONTROLLER_SERVER_NODE_CALL_SLOTS_H
#define HAL_CONTROLLER_SERVER_NODE_CALL_SLOTS_H

#include <chrono>
#include <condition_variable>
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
    Slot(NodeCallSlots *owner, std::string node, std::string key)
        : owner_(owner), node_(std::move(node)), key_(std::move(key)) {}
    NodeCallSlots *owner_;
    std::string node_, key_;
  };

  /** `per_node` slots for each node (at least 1); `requeue` queues a waiting key again (it runs
   *  on the thread releasing a slot, with no lock held). */
  NodeCallSlots(std::size_t per_node, std::function<void(const std::string &key)> requeue);

  /** A slot of `node`, or nullopt when all of them are taken: `key` then waits, once however
   *  often it asks, until one of them is released. A key holding a slot of `node` shares it. */
  std::optional<Slot> try_claim(const std::string &node, const std::string &key);
  /** A slot of `node` for `key`, waiting up to `timeout` for one to be released (for callers
   *  that are not queue workers); nullopt when none was released in time. */
  std::optional<Slot> claim_within(const std::string &node, const std::string &key,
                                   std::chrono::milliseconds timeout);

  /** Calls to `node` holding a slot now. */
  std::size_t in_flight(const std::string &node) const;
  /** Keys waiting for a slot of `node`. */
  std::size_t waiting(const std::string &node) const;
  /** Slots per node. */
  std::size_t per_node() const { return per_node_; }

 private:
  struct Node {
    std::map<std::string, std::size_t> holders;  // key → slots it holds (shared: one counts)
    std::deque<std::string> waiting;             // oldest first
    std::set<std::string> waiting_keys;
  };
  // A slot for `key` when one is free or `key` holds one already; mutex_ held.
  std::optional<Slot> claim_locked(Node &slots, const std::string &node, const std::string &key);
  void release(const std::string &node, const std::string &key);

  const std::size_t per_node_;
  const std::function<void(const std::string &)> requeue_;
  mutable std::mutex mutex_;
  std::condition_variable released_;  ///< Signalled whenever a slot is freed.
  std::map<std::string, Node> nodes_;
};

}  // namespace hal::controller

#endif  // HAL_CONTROLLER_SERVER_NODE_CALL_SLOTS_H
