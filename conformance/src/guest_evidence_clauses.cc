// guest_evidence_clauses.cc - lifecycle clauses that check a backend's claims against the guest
// itself, read on its console: a paused guest stops (no heartbeat, its clock behind the host's by
// the paused time), a graceful shutdown runs the guest's power-off path and a forced stop does
// not, a reboot runs the guest's reboot path and a reset boots it anew without one. A backend
// without a guest console gets "needs-guest" for these clauses, never a pass.
#include <gtest/gtest.h>

#include <thread>

#include "clause.h"
#include "console_watch.h"
#include "hal/host.hpp"
#include "report.h"
#include "suite.h"

namespace hal::conformance {
namespace {

constexpr const char *kLifecycle = "lifecycle";
/** How long LC-037 keeps the guest paused (the test guest beats once a second). */
constexpr auto kPauseFor = std::chrono::milliseconds(2500);
/** Console lines still in flight when a call returns. */
constexpr auto kInFlight = std::chrono::milliseconds(300);

Suite &S() {
  return suite();
}

/** Why a clause could not look at the guest. */
std::string no_console_reason() {
  return std::string(kNeedsGuest) +
         "the backend offers no guest console (declare features.console and answer "
         "vm_get_console with a unix socket the certification guest prints its HAL-GUEST "
         "markers on)";
}

/** Attaches `watch` to `vm`'s console and waits for the guest's first heartbeat `beat`, or ends
 *  the clause as needs-guest (no console) or failed (no heartbeat). */
#define WATCH_GUEST_OR_RETURN(watch, beat, vm)                                                \
  auto watch = ConsoleWatch::attach(vm);                                                      \
  if (!watch) GTEST_SKIP() << no_console_reason();                                            \
  auto beat = watch->next_heartbeat(S().wait);                                                \
  ASSERT_TRUE(beat) << "no HAL-GUEST heartbeat on the console of " << (vm).id() << " within " \
                    << S().wait.count() << " ms:" << watch->tail()

bool is(const ConsoleLine &line, const char *marker) {
  return line.marker == marker;
}

}  // namespace

HAL_CLAUSE(LC_037, kLifecycle, MUST, "operations.vm_pause",
           "vm_pause stops the guest: its console prints no heartbeat while PAUSED, and after "
           "vm_resume the same boot goes on with its own clock behind the host's by about the "
           "paused time") {
  Backend backend = S().open();
  Cleanup cleanup(backend);
  Vm vm = running_vm(backend, cleanup, "ev-pause");
  WATCH_GUEST_OR_RETURN(watch, first, vm);
  vm.pause();
  const auto paused_at = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(kPauseFor);
  vm.resume();
  const auto resumed_at = std::chrono::steady_clock::now();
  std::optional<ConsoleLine> last_before;
  std::vector<ConsoleLine> while_paused;
  for (const ConsoleLine &line : watch->lines()) {
    if (!is(line, "heartbeat") || line.at >= resumed_at) continue;
    if (line.at <= paused_at + kInFlight) {
      last_before = line;
    } else {
      while_paused.push_back(line);
    }
  }
  if (!while_paused.empty()) {
    ADD_FAILURE() << "the guest printed " << while_paused.size()
                  << " heartbeats while the VM was reported PAUSED, the first "
                  << std::chrono::duration_cast<std::chrono::milliseconds>(while_paused.front().at -
                                                                           paused_at)
                         .count()
                  << " ms after vm_pause returned: \"" << while_paused.front().text << "\"";
  }
  auto after = watch->wait_for(
      [&](const ConsoleLine &l) { return is(l, "heartbeat") && l.at >= resumed_at; }, S().wait);
  ASSERT_TRUE(after) << "no heartbeat after vm_resume within " << S().wait.count()
                     << " ms:" << watch->tail();
  ASSERT_TRUE(last_before);
  EXPECT_EQ(after->boot_id, last_before->boot_id) << "the guest rebooted across pause/resume";
  EXPECT_GT(after->heartbeat, last_before->heartbeat) << watch->tail();
  if (auto gap = clock_gap(*last_before, *after)) {
    EXPECT_GE(gap->stopped_ms, kPauseFor.count() / 2)
        << "the guest's clock advanced " << gap->guest_ms << " ms while the host's advanced "
        << gap->host_ms << " ms around a " << kPauseFor.count()
        << " ms pause: the guest was not stopped";
  }
}

HAL_CLAUSE(LC_038, kLifecycle, MUST, "operations.vm_shutdown",
           "vm_shutdown is graceful and vm_force_stop is not: the guest runs its power-off path "
           "(\"HAL-GUEST: powerdown\" on its console) before a shutdown stops the VM, and never "
           "on a forced stop") {
  Backend backend = S().open();
  Cleanup cleanup(backend);
  Vm vm = running_vm(backend, cleanup, "ev-shutdown");
  {
    WATCH_GUEST_OR_RETURN(watch, first, vm);
    const size_t mark = watch->size();
    vm.shutdown(S().wait);
    EXPECT_EQ(state_name(vm.state()), "Stopped");
    EXPECT_TRUE(watch->wait_for([](const ConsoleLine &l) { return is(l, "powerdown"); },
                                std::chrono::seconds(2), mark))
        << "vm_shutdown stopped the VM but the guest never ran its power-off path (no "
           "\"HAL-GUEST: powerdown\"): that is a forced stop, not a graceful shutdown:"
        << watch->tail();
  }
  vm.start();
  ASSERT_EQ(state_name(wait_state(vm, HAL_VM_STATE_RUNNING, S().wait)), "Running");
  WATCH_GUEST_OR_RETURN(watch, first, vm);
  const size_t mark = watch->size();
  vm.force_stop();
  EXPECT_EQ(state_name(vm.state()), "Stopped");
  EXPECT_FALSE(watch->wait_for([](const ConsoleLine &l) { return is(l, "powerdown"); },
                               std::chrono::seconds(1), mark))
      << "vm_force_stop let the guest run its power-off path: a forced stop must not ask the "
         "guest"
      << watch->tail();
}

HAL_CLAUSE(LC_039, kLifecycle, MUST, "operations.vm_reboot",
           "vm_reboot asks the guest: it runs its reboot path (\"HAL-GUEST: reboot\" on its "
           "console) and comes back with a new boot id") {
  Backend backend = S().open();
  Cleanup cleanup(backend);
  Vm vm = running_vm(backend, cleanup, "ev-reboot");
  WATCH_GUEST_OR_RETURN(watch, first, vm);
  const size_t mark = watch->size();
  vm.reboot();
  auto marker =
      watch->wait_for([](const ConsoleLine &l) { return is(l, "reboot"); }, S().wait, mark);
  EXPECT_TRUE(marker) << "vm_reboot did not make the guest run its reboot path (no "
                         "\"HAL-GUEST: reboot\"):"
                      << watch->tail();
  auto next = watch->wait_for(
      [&](const ConsoleLine &l) { return is(l, "heartbeat") && l.boot_id != first->boot_id; },
      S().wait, mark);
  EXPECT_TRUE(next) << "no heartbeat of a new boot after vm_reboot:" << watch->tail();
}

HAL_CLAUSE(LC_040, kLifecycle, MUST, "operations.vm_reset",
           "vm_reset hard-resets the guest: it boots anew (a new boot id on its console) "
           "without running its reboot path") {
  Backend backend = S().open();
  Cleanup cleanup(backend);
  Vm vm = running_vm(backend, cleanup, "ev-reset");
  WATCH_GUEST_OR_RETURN(watch, first, vm);
  const size_t mark = watch->size();
  vm.reset();
  auto next = watch->wait_for(
      [&](const ConsoleLine &l) { return is(l, "heartbeat") && l.boot_id != first->boot_id; },
      S().wait, mark);
  ASSERT_TRUE(next) << "the guest did not boot anew after vm_reset (no heartbeat with a new "
                       "boot id):"
                    << watch->tail();
  for (const ConsoleLine &line : watch->lines(mark)) {
    if (line.at > next->at) break;
    EXPECT_FALSE(is(line, "reboot"))
        << "the guest ran its own reboot path after vm_reset: a reset must not ask the guest";
  }
}

}  // namespace hal::conformance
