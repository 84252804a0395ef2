// migration_cancel_clauses.cc - migration profile clauses on cancellation at every phase and on
// both sides: the source cancels while bytes flow (MG-013), the target cancels before any send
// (MG-014) and while bytes flow (MG-015), and either side cancels a completed migration
// (MG-016). Each checks what both instances report afterwards, not the source alone. (MG-007
// cancels on the source right after the send starts.)
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>

#include "clause.h"
#include "guest.h"
#include "hal/host.hpp"
#include "migration_pair.h"
#include "suite.h"

namespace hal::conformance {
namespace {

constexpr const char *kMigration = "migration";

Suite &S() {
  return suite();
}

/** The spec of VM `name`, on either side; `slow` gives it 1Gi, so that a migration throttled to
 *  1 MiB/s stays in transfer far longer than any wait of the suite. */
nlohmann::json spec_of(const std::string &name, bool slow) {
  nlohmann::json overrides = nlohmann::json::object();
  if (slow) overrides["memory"] = {{"size", "1Gi"}};
  return S().spec(name, overrides);
}

/** A VM made RUNNING (guest up) on the source, with spec_of(`slow`). */
Vm running_source(MigrationPair &pair, const std::string &tag, bool slow) {
  std::string name = S().vm_name(tag);
  pair.src_clean.add(name);
  pair.dst_clean.add(name);
  Vm vm = pair.src.create(spec_of(name, slow));
  vm.start();
  EXPECT_EQ(state_name(wait_state(vm, HAL_VM_STATE_RUNNING, S().wait)), "Running");
  wait_guest_ready(vm, S().wait);
  sleep_ms(200);
  return vm;
}

/** The target VM in state INCOMING and the uri to send it to. */
struct Incoming {
  Vm vm;
  std::string uri;
};

/** migration_prepare_incoming on the target of the spec the source was created with (the same
 *  memory size: a target of another size fails the migration at once on a real hypervisor). */
Incoming prepare(MigrationPair &pair, const Vm &source, bool slow) {
  auto incoming = pair.dst.migration_prepare_incoming(spec_of(source.id(), slow));
  EXPECT_EQ(state_name(incoming.vm.state()), "Incoming");
  return {std::move(incoming.vm), incoming.endpoint.value("uri", "")};
}

/** Send parameters that keep a 1Gi migration in transfer: 1 MiB/s. */
nlohmann::json throttled(const std::string &uri) {
  return {{"uri", uri}, {"maxDowntimeMs", kMaxDowntimeMs}, {"bandwidthMiBps", 1}};
}

/** Polls `vm`'s progress until `done` holds for it or `timeout` passes; answers the last one
 *  (an object with "status":"error" and the message when the poll itself failed). */
nlohmann::json poll_until(const Vm &vm, const std::function<bool(const nlohmann::json &)> &done,
                          std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  nlohmann::json p;
  for (;;) {
    Outcome o = outcome_of([&] { p = vm.migration_progress(); });
    if (o.status != HAL_OK) return {{"status", "error"}, {"error", o.str()}};
    if (done(p) || std::chrono::steady_clock::now() >= deadline) return p;
    sleep_ms(10);
  }
}

/** Waits until the source's migration reached a final status. */
nlohmann::json wait_final(const Vm &vm) {
  return poll_until(
      vm, [](const nlohmann::json &p) { return final_status(p.value("status", "")); },
      2 * S().wait);
}

/** True when `p` shows a migration moving bytes: status active, transferredBytes > 0. */
bool in_transfer(const nlohmann::json &p) {
  return p.value("status", "") == "active" && p.value("transferredBytes", int64_t{0}) > 0;
}

/** Waits until the source's migration moves bytes (or ended). */
nlohmann::json wait_transfer(const Vm &vm) {
  return poll_until(
      vm,
      [](const nlohmann::json &p) { return final_status(p.value("status", "")) || in_transfer(p); },
      S().wait);
}

/** The guest on the source is still the one observed in `before`, and RUNNING. */
void expect_source_kept(const Vm &vm, const GuestLiveness &before, const std::string &when) {
  EXPECT_EQ(state_name(wait_state(vm, HAL_VM_STATE_RUNNING, S().wait)), "Running")
      << "the source is not Running " << when;
  if (!before.known) return;
  GuestLiveness after = observe_guest(vm, S().wait);
  ASSERT_TRUE(after.known) << "the source guest cannot be observed " << when;
  EXPECT_EQ(after.boot_id, before.boot_id) << "the source guest rebooted " << when;
  if (before.uptime_ms >= 0 && after.uptime_ms >= 0) {
    EXPECT_GE(after.uptime_ms, before.uptime_ms) << "the source guest uptime went back " << when;
  }
}

/** The target ended without the guest: STOPPED (hal.h: "After a cancelled or failed migration
 *  the target VM is STOPPED"), never reported RUNNING, its progress not completed. */
void expect_target_ended(MigrationPair &pair, const Vm &target, const std::string &when) {
  EXPECT_EQ(state_name(wait_state(target, HAL_VM_STATE_STOPPED, S().wait)), "Stopped")
      << "the target is not Stopped " << when;
  nlohmann::json p;
  Outcome o = outcome_of([&] { p = target.migration_progress(); });
  EXPECT_EQ(o.status, HAL_OK) << "migration_get_progress on the target " << when << ": " << o.str();
  if (o.status == HAL_OK) {
    std::string st = p.value("status", "");
    EXPECT_TRUE(st == "failed" || st == "cancelled")
        << "the target's progress " << when << " is not failed/cancelled: " << p.dump();
  }
  pair.dst.drain_events();
  for (const auto &e : pair.dst_log.events(target.id())) {
    EXPECT_FALSE(e.type == HAL_EVENT_STATE_CHANGED && e.state == HAL_VM_STATE_RUNNING)
        << "the target reported Running " << when;
  }
}

/** The source reported a MIGRATION_FINISHED event whose status is one of `statuses`. */
void expect_finished_event(MigrationPair &pair, const Vm &vm,
                           const std::vector<std::string> &statuses) {
  auto finished = pair.src_log.wait_for(
      [&](const Event &e) { return e.vm_id == vm.id() && e.type == HAL_EVENT_MIGRATION_FINISHED; },
      S().wait);
  ASSERT_TRUE(finished.has_value())
      << "no MIGRATION_FINISHED event on the source; events: " << pair.src_log.describe(vm.id());
  std::string st = finished->detail.is_object() ? finished->detail.value("status", "") : "";
  EXPECT_NE(std::find(statuses.begin(), statuses.end(), st), statuses.end())
      << "MIGRATION_FINISHED on the source has status '" << st << "'";
}

}  // namespace

HAL_CLAUSE(MG_013, kMigration, MUST, "",
           "migration_cancel on the source while bytes are in transfer (status active, "
           "transferredBytes > 0) ends the migration on both sides: the source reports "
           "cancelled (progress and MIGRATION_FINISHED) and stays RUNNING with the same guest, "
           "the target ends STOPPED with a failed or cancelled progress and never RUNNING") {
  MigrationPair pair;
  Vm vm = running_source(pair, "cancel-xfer", true);
  GuestLiveness before = observe_guest(vm, S().wait);
  Incoming target = prepare(pair, vm, true);
  vm.migration_send(throttled(target.uri));
  nlohmann::json p = wait_transfer(vm);
  ASSERT_TRUE(in_transfer(p)) << "the migration never showed bytes in transfer: " << p.dump();
  ASSERT_EQ(state_name(target.vm.state()), "Incoming") << "the target left Incoming in transfer";
  Outcome cancel = outcome_of([&] { vm.migration_cancel(); });
  EXPECT_EQ(cancel.status, HAL_OK) << "migration_cancel during the transfer: " << cancel.str();
  p = wait_final(vm);
  EXPECT_EQ(p.value("status", ""), "cancelled") << "source progress after cancel: " << p.dump();
  expect_finished_event(pair, vm, {"cancelled"});
  expect_source_kept(vm, before, "after a cancel during the transfer");
  expect_target_ended(pair, target.vm, "after the source cancelled during the transfer");
}

HAL_CLAUSE(MG_014, kMigration, MUST, "",
           "migration_cancel on an INCOMING target before any send either aborts the incoming "
           "side (OK: the target ends STOPPED, a later migration_send to its endpoint fails and "
           "leaves the source RUNNING with the same guest) or answers FAILED_PRECONDITION and "
           "changes nothing (the target stays INCOMING and a migration to it completes)") {
  MigrationPair pair;
  Vm vm = running_source(pair, "tcancel-early", false);
  GuestLiveness before = observe_guest(vm, S().wait);
  Incoming target = prepare(pair, vm, false);
  Outcome cancel = outcome_of([&] { target.vm.migration_cancel(); });
  ASSERT_TRUE(cancel.status == HAL_OK || cancel.status == HAL_FAILED_PRECONDITION)
      << "migration_cancel on the INCOMING target: " << cancel.str();
  nlohmann::json params = {{"uri", target.uri}, {"maxDowntimeMs", kMaxDowntimeMs}};
  if (cancel.status == HAL_FAILED_PRECONDITION) {
    EXPECT_EQ(state_name(target.vm.state()), "Incoming") << "a refused cancel changed the target";
    vm.migration_send(params);
    nlohmann::json p = wait_final(vm);
    EXPECT_EQ(p.value("status", ""), "completed")
        << "after a refused cancel the target no longer receives: " << p.dump();
    EXPECT_EQ(state_name(wait_state(target.vm, HAL_VM_STATE_RUNNING, S().wait)), "Running");
    return;
  }
  EXPECT_EQ(state_name(wait_state(target.vm, HAL_VM_STATE_STOPPED, S().wait)), "Stopped")
      << "cancel answered OK but the target is not Stopped";
  Outcome send = outcome_of([&] { vm.migration_send(params); });
  if (send.status == HAL_OK) {
    nlohmann::json p = wait_final(vm);
    std::string st = p.value("status", "");
    EXPECT_TRUE(st == "failed" || st == "cancelled")
        << "a send to a cancelled target did not fail: " << p.dump();
  } else {
    EXPECT_NE(send.status, HAL_INTERNAL) << "migration_send to a cancelled target: " << send.str();
  }
  expect_source_kept(vm, before, "after a send to a cancelled target");
  EXPECT_NE(state_name(target.vm.state()), "Running") << "the cancelled target runs the guest";
}

HAL_CLAUSE(MG_015, kMigration, MUST, "",
           "migration_cancel on the target while bytes are in transfer either aborts the "
           "migration (OK: it ends failed or cancelled on the source, with MIGRATION_FINISHED, "
           "the source stays RUNNING with the same guest and the target ends STOPPED) or answers "
           "FAILED_PRECONDITION and changes nothing (the target stays INCOMING and the "
           "migration goes on)") {
  MigrationPair pair;
  Vm vm = running_source(pair, "tcancel-xfer", true);
  GuestLiveness before = observe_guest(vm, S().wait);
  Incoming target = prepare(pair, vm, true);
  vm.migration_send(throttled(target.uri));
  nlohmann::json p = wait_transfer(vm);
  ASSERT_TRUE(in_transfer(p)) << "the migration never showed bytes in transfer: " << p.dump();
  ASSERT_EQ(state_name(target.vm.state()), "Incoming") << "the target left Incoming in transfer";
  Outcome cancel = outcome_of([&] { target.vm.migration_cancel(); });
  ASSERT_TRUE(cancel.status == HAL_OK || cancel.status == HAL_FAILED_PRECONDITION)
      << "migration_cancel on the target during the transfer: " << cancel.str();
  if (cancel.status == HAL_FAILED_PRECONDITION) {
    EXPECT_EQ(state_name(target.vm.state()), "Incoming") << "a refused cancel changed the target";
    p = vm.migration_progress();
    EXPECT_FALSE(final_status(p.value("status", "")))
        << "a refused cancel on the target ended the migration: " << p.dump();
    Outcome end = outcome_of([&] { vm.migration_cancel(); });  // end it from the source
    EXPECT_EQ(end.status, HAL_OK) << "migration_cancel on the source: " << end.str();
    wait_final(vm);
    expect_source_kept(vm, before, "after the source cancelled");
    return;
  }
  p = wait_final(vm);
  std::string st = p.value("status", "");
  EXPECT_TRUE(st == "cancelled" || st == "failed")
      << "the source's migration did not end failed/cancelled after the target cancelled: "
      << p.dump();
  expect_finished_event(pair, vm, {"cancelled", "failed"});
  expect_source_kept(vm, before, "after the target cancelled during the transfer");
  expect_target_ended(pair, target.vm, "after it cancelled during the transfer");
}

HAL_CLAUSE(MG_016, kMigration, MUST, "",
           "migration_cancel after a completed migration answers FAILED_PRECONDITION on both "
           "sides and changes nothing: the source stays MIGRATED with its progress completed, "
           "the target RUNNING with the same guest") {
  MigrationPair pair;
  Vm vm = running_source(pair, "cancel-done", false);
  GuestLiveness before = observe_guest(vm, S().wait);
  Incoming target = prepare(pair, vm, false);
  vm.migration_send({{"uri", target.uri}, {"maxDowntimeMs", kMaxDowntimeMs}});
  nlohmann::json p = wait_final(vm);
  ASSERT_EQ(p.value("status", ""), "completed") << p.dump();
  ASSERT_EQ(state_name(wait_state(vm, HAL_VM_STATE_MIGRATED, S().wait)), "Migrated");
  ASSERT_EQ(state_name(wait_state(target.vm, HAL_VM_STATE_RUNNING, S().wait)), "Running");
  Outcome o = outcome_of([&] { vm.migration_cancel(); });
  EXPECT_EQ(o.status, HAL_FAILED_PRECONDITION)
      << "migration_cancel on the source after completion: " << o.str();
  o = outcome_of([&] { target.vm.migration_cancel(); });
  EXPECT_EQ(o.status, HAL_FAILED_PRECONDITION)
      << "migration_cancel on the target after completion: " << o.str();
  sleep_ms(200);
  EXPECT_EQ(state_name(vm.state()), "Migrated") << "a cancel after completion changed the source";
  EXPECT_EQ(vm.migration_progress().value("status", ""), "completed")
      << "a cancel after completion changed the source's progress";
  EXPECT_EQ(state_name(target.vm.state()), "Running")
      << "a cancel after completion changed the target";
  if (before.known) {
    GuestLiveness after = observe_guest(target.vm, S().wait);
    EXPECT_EQ(after.boot_id, before.boot_id) << "the guest on the target is not the migrated one";
  }
}

}  // namespace hal::conformance
