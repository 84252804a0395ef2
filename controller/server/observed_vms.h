// observed_vms.h - the VM states each node reported, as the controller last learnt them: from the
// node's registration list, its event stream and the answers of calls to it. It orders the two
// sources (an event older than a recorded answer is skipped; an event during an action call is
// held back for its caller), keeps which guests the node reported silent, and indexes which nodes
// report a VM. Thread-safe; it calls nothing outside itself.
#ifndef HAL_CONTROLLER_SERVER_OBSERVED_VMS_H
#define HAL_CONTROLLER_SERVER_OBSERVED_VMS_H

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "hal/v1/node.pb.h"

namespace hal::controller {

/** The observed VM states of every registered node. */
class ObservedVms {
 public:
  /** `node` (re-)registered reporting exactly `vms` (vm id, state): its earlier states, event
   *  sequences and silence reports are dropped (a new agent numbers its events afresh). */
  void reset_node(const std::string &node,
                  const std::vector<std::pair<std::string, std::string>> &vms);
  /** Forgets `node` entirely. */
  void forget_node(const std::string &node);

  /** The state `node` last reported for `vm_id`: nullopt when the node has not registered, ""
   *  when it did and does not have the VM. */
  std::optional<std::string> state(const std::string &node, const std::string &vm_id) const;
  /** vm id → state of every VM `node` reported (empty for an unknown node). */
  std::map<std::string, std::string> vms_of(const std::string &node) const;
  /** (node, state) of every node reporting `vm_id`, by node name. */
  std::vector<std::pair<std::string, std::string>> nodes_with(const std::string &vm_id) const;
  /** Why the guest of `vm_id` on `node` is silent, or "" when it is not reported silent. */
  std::string guest_silence(const std::string &node, const std::string &vm_id) const;

  /** Records a state from a call's answer ("" = the VM is gone); false when it was already the
   *  recorded state or the node is unknown. The answer's `event_sequence` marks the node's
   *  state-change events up to it as reflected: they are skipped when they arrive. */
  bool record(const std::string &node, const std::string &vm_id, const std::string &state,
              uint64_t event_sequence = 0);
  /** Records what an event of `node`'s stream tells; true when a reconciler should hear of it
   *  (not a state change already reflected, an echo of the recorded state, or held back for an
   *  action in flight). */
  bool observe_event(const std::string &node, const v1::NodeEvent &event);

  /** An action call on `vm_id` at `node` starts: its state-change events are recorded but held
   *  back (the caller acts on the answer). */
  void begin_action(const std::string &node, const std::string &vm_id);
  /** The action ended with an answer carrying `answered_sequence` (0 without one); true when an
   *  event held back meanwhile is newer than the answer. */
  bool end_action(const std::string &node, const std::string &vm_id, uint64_t answered_sequence);

 private:
  struct Node {
    std::map<std::string, std::string> vms;               // vm id → state
    std::unordered_map<std::string, uint64_t> reflected;  // vm id → event sequence reflected
    struct InFlight {
      int calls = 0;
      uint64_t held = 0;  // newest event sequence held back
    };
    std::unordered_map<std::string, InFlight> actions;           // vm id → action calls
    std::unordered_map<std::string, std::string> guest_silence;  // vm id → message
  };
  // record's part; mutex_ held.
  bool record_locked(Node &node, const std::string &name, const std::string &vm_id,
                     const std::string &state);
  void index_add(const std::string &vm_id, const std::string &node);     // mutex_ held
  void index_remove(const std::string &vm_id, const std::string &node);  // mutex_ held

  mutable std::mutex mutex_;
  std::map<std::string, Node> nodes_;
  std::unordered_map<std::string, std::vector<std::string>> vm_nodes_;  // vm id → nodes
};

}  // namespace hal::controller

#endif  // HAL_CONTROLLER_SERVER_OBSERVED_VMS_H
