// event_clauses.cc - lifecycle clauses on event identity and counts, checked against the VMs that
// exist: every event names a VM of its backend instance and acting on one VM reports that VM
// only (LC-035); each transition is reported exactly once, and nothing else is (LC-036).
#include <gtest/gtest.h>

#include <set>
#include <sstream>

#include "clause.h"
#include "guest.h"
#include "hal/host.hpp"
#include "hal/names.h"
#include "suite.h"

namespace hal::conformance {
namespace {

constexpr const char *kLifecycle = "lifecycle";

Suite &S() {
  return suite();
}

/** "type State naming 'vm_id'" for failure messages. */
std::string describe(const Event &e) {
  std::ostringstream out;
  out << hal_event_type_name(e.type) << " " << state_name(e.state) << " naming '" << e.vm_id << "'";
  if (!e.detail.is_null()) out << " " << e.detail.dump();
  return out.str();
}

/** Every event of `log` with the VM it names, for failure messages. */
std::string describe_all(const EventLog &log) {
  std::string out;
  for (const auto &e : log.events()) out += "[" + describe(e) + "]";
  return out.empty() ? "none" : out;
}

/** Waits for a STATE_CHANGED event of `vm` to `state`; fails the clause naming `after`. */
#define ASSERT_STATE_EVENT(log, vm, state, after)                                          \
  ASSERT_TRUE((log).wait_state_event((vm).id(), state, S().wait))                          \
      << "no STATE_CHANGED(" << state_name(state) << ") naming " << (vm).id() << " after " \
      << (after) << "; events: " << describe_all(log)

/** True for the states hal.h allows between two stable ones (reported or not). */
bool transient(hal_vm_state s) {
  return s == HAL_VM_STATE_STARTING || s == HAL_VM_STATE_SHUTTING_DOWN;
}

}  // namespace

HAL_CLAUSE(LC_035, kLifecycle, MUST, "",
           "events name the VM they are about: with several VMs defined, every event names a "
           "VM of that backend instance, and starting, pausing, resuming, force-stopping and "
           "deleting one VM yields events naming that VM only, none naming a sibling") {
  Backend backend = S().open();
  std::set<std::string> existing;  // VMs of this instance: any found at open, and ours
  for (const auto &v : backend.list().value("vms", nlohmann::json::array())) {
    existing.insert(v.value("id", ""));
  }
  EventLog log(backend);
  Cleanup cleanup(backend);
  // The VM acted on is neither the first nor the last defined, so an event carrying the id of
  // the first or of the newest VM instead of its own is seen.
  Vm first = create_vm(backend, cleanup, "ev-first");
  Vm actor = create_vm(backend, cleanup, "ev-actor");
  Vm last = create_vm(backend, cleanup, "ev-last");
  for (const Vm *vm : {&first, &actor, &last}) existing.insert(vm->id());

  first.start();
  ASSERT_EQ(state_name(wait_state(first, HAL_VM_STATE_RUNNING, S().wait)), "Running");
  ASSERT_STATE_EVENT(log, first, HAL_VM_STATE_RUNNING, "vm_start of " + first.id());
  sleep_ms(200);
  backend.drain_events();
  const size_t mark = log.count();

  actor.start();
  ASSERT_STATE_EVENT(log, actor, HAL_VM_STATE_RUNNING, "vm_start");
  if (S().plugin->has("vm_pause") && S().plugin->has("vm_resume")) {
    actor.pause();
    ASSERT_STATE_EVENT(log, actor, HAL_VM_STATE_PAUSED, "vm_pause");
    actor.resume();
    ASSERT_STATE_EVENT(log, actor, HAL_VM_STATE_RUNNING, "vm_resume");
  }
  actor.force_stop();
  ASSERT_STATE_EVENT(log, actor, HAL_VM_STATE_STOPPED, "vm_force_stop");
  actor.delete_vm();
  sleep_ms(300);
  backend.drain_events();

  const std::vector<Event> events = log.events();
  for (size_t i = 0; i < events.size(); ++i) {
    const Event &e = events[i];
    EXPECT_TRUE(existing.count(e.vm_id))
        << "an event names a VM this backend instance does not have: " << describe(e);
    if (i >= mark) {
      EXPECT_EQ(e.vm_id, actor.id())
          << "acting on " << actor.id() << " yielded an event naming another VM: " << describe(e);
    }
  }
  EXPECT_EQ(state_name(first.state()), "Running") << "acting on a sibling changed " << first.id();
  EXPECT_EQ(state_name(last.state()), "Stopped") << "acting on a sibling changed " << last.id();
}

HAL_CLAUSE(LC_036, kLifecycle, MUST, "",
           "every transition is reported exactly once: a VM taken through start, (pause, "
           "resume,) (reset,) shutdown or force stop, start paused, force stop and delete "
           "reports one STATE_CHANGED per transition (none duplicated or missing, none for a "
           "reset, which reports GUEST_REBOOTED) and at most one VM_DELETED") {
  Backend backend = S().open();
  EventLog log(backend);
  Cleanup cleanup(backend);
  Vm vm = create_vm(backend, cleanup, "counts");
  sleep_ms(100);
  backend.drain_events();
  log.clear();  // whatever vm_create reports is LC-005's business; count from the first start

  std::vector<std::string> want;
  int resets = 0;
  vm.start();
  want.push_back("Running");
  ASSERT_STATE_EVENT(log, vm, HAL_VM_STATE_RUNNING, "vm_start");
  if (S().plugin->has("vm_pause") && S().plugin->has("vm_resume")) {
    vm.pause();
    want.push_back("Paused");
    ASSERT_STATE_EVENT(log, vm, HAL_VM_STATE_PAUSED, "vm_pause");
    vm.resume();
    want.push_back("Running");
  }
  if (S().plugin->has("vm_reset")) {
    wait_guest_ready(vm, S().wait);
    vm.reset();
    ++resets;
    ASSERT_TRUE(log.wait_for(
        [&](const Event &e) { return e.vm_id == vm.id() && e.type == HAL_EVENT_GUEST_REBOOTED; },
        S().wait))
        << "no GUEST_REBOOTED after vm_reset; events: " << describe_all(log);
    ASSERT_EQ(state_name(wait_state(vm, HAL_VM_STATE_RUNNING, S().wait)), "Running");
  }
  if (S().plugin->has("vm_shutdown")) {
    wait_guest_ready(vm, S().wait);
    vm.shutdown(S().wait);
  } else {
    vm.force_stop();
  }
  want.push_back("Stopped");
  ASSERT_EQ(state_name(wait_state(vm, HAL_VM_STATE_STOPPED, S().wait)), "Stopped");
  vm.start(HAL_START_PAUSED);
  want.push_back("Paused");
  ASSERT_EQ(state_name(wait_state(vm, HAL_VM_STATE_PAUSED, S().wait)), "Paused");
  vm.force_stop();
  want.push_back("Stopped");
  ASSERT_STATE_EVENT(log, vm, HAL_VM_STATE_STOPPED, "the last vm_force_stop");
  vm.delete_vm();
  sleep_ms(300);  // late duplicates have time to arrive
  backend.drain_events();

  std::vector<std::string> got;
  int reboots = 0, deletions = 0;
  for (const auto &e : log.events(vm.id())) {
    if (e.type == HAL_EVENT_GUEST_REBOOTED) ++reboots;
    if (e.type == HAL_EVENT_VM_DELETED) ++deletions;
    if (e.type == HAL_EVENT_STATE_CHANGED && !transient(e.state))
      got.push_back(state_name(e.state));
  }
  EXPECT_EQ(got, want) << "the STATE_CHANGED events (transient states left out) differ from the "
                          "transitions made; events: "
                       << describe_all(log);
  // A guest may reboot itself too (a real one did, twice, after a reset under TCG): at least one.
  EXPECT_GE(reboots, resets) << "GUEST_REBOOTED events for " << resets
                             << " vm_reset call(s); events: " << describe_all(log);
  EXPECT_LE(deletions, 1) << "VM_DELETED reported more than once: " << describe_all(log);
}

}  // namespace hal::conformance
