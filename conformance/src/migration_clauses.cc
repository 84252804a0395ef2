// migration_clauses.cc - clauses of the "migration" profile: live migration of a running VM
// between two instances of the backend (configs differing in "instance"), progress, guest
// continuity, downtime, cancel, failure on the target, and TDX refusal.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clause.h"
#include "console_watch.h"
#include "core/spec/vm_spec_validation.h"
#include "guest.h"
#include "hal/host.hpp"
#include "migration_pair.h"
#include "report.h"
#include "suite.h"

namespace hal::conformance {
namespace {

constexpr const char *kMigration = "migration";

Suite &S() {
  return suite();
}

/** What one migration attempt produced. */
struct Run {
  Vm target;
  Outcome send;
  nlohmann::json final_progress;
  std::vector<nlohmann::json> polls;
  bool finished = false;
};

/** A running VM on the source. Without a guest console the evidence is info.guest.bootCount, so
 *  the VM is rebooted once when the backend can (a target reporting a fresh count of 1 is then
 *  caught); a console's boot_id is new at every boot and needs no reboot. */
Vm source_vm(MigrationPair &rig, const std::string &tag, const nlohmann::json &overrides = {}) {
  std::string name = S().vm_name(tag);
  rig.src_clean.add(name);
  rig.dst_clean.add(name);
  Vm vm =
      rig.src.create(S().spec(name, overrides.is_null() ? nlohmann::json::object() : overrides));
  vm.start();
  EXPECT_EQ(state_name(wait_state(vm, HAL_VM_STATE_RUNNING, S().wait)), "Running");
  wait_guest_ready(vm, S().wait);
  if (S().declares_operation("vm_reboot") && !console_socket(vm)) {
    vm.reboot();
    EXPECT_TRUE(rig.src_log.wait_for(
        [&](const Event &e) { return e.vm_id == vm.id() && e.type == HAL_EVENT_GUEST_REBOOTED; },
        S().wait));
    wait_state(vm, HAL_VM_STATE_RUNNING, S().wait);
    wait_guest_ready(vm, S().wait);
  }
  sleep_ms(200);
  return vm;
}

/** Prepares the target, sends, and polls the source's progress until a final status.
 *  `on_first_poll` runs once after the first progress poll (e.g. to cancel). `overrides` are
 *  the ones the source was created with (a target of another memory size fails at once). */
Run migrate(MigrationPair &rig, Vm &vm, nlohmann::json params,
            const std::function<void(Vm &)> &on_first_poll = nullptr,
            const nlohmann::json &overrides = nlohmann::json::object()) {
  Run run;
  auto incoming = rig.dst.migration_prepare_incoming(S().spec(vm.id(), overrides));
  run.target = std::move(incoming.vm);
  EXPECT_EQ(state_name(run.target.state()), "Incoming");
  EXPECT_TRUE(incoming.endpoint.is_object() && incoming.endpoint.contains("uri"))
      << "endpoint: " << incoming.endpoint.dump();
  params["uri"] = incoming.endpoint.value("uri", "");
  run.send = outcome_of([&] { vm.migration_send(params); });
  if (run.send.status != HAL_OK) return run;
  auto deadline = std::chrono::steady_clock::now() + 4 * S().wait;
  bool first = true;
  while (std::chrono::steady_clock::now() < deadline) {
    nlohmann::json p;
    Outcome o = outcome_of([&] { p = vm.migration_progress(); });
    if (o.status != HAL_OK) {
      ADD_FAILURE() << "migration_get_progress: " << o.str();
      break;
    }
    run.polls.push_back(p);
    if (first && on_first_poll) {
      first = false;
      on_first_poll(vm);
    }
    if (final_status(p.value("status", ""))) {
      run.final_progress = p;
      run.finished = true;
      break;
    }
    sleep_ms(5);
  }
  EXPECT_TRUE(run.finished) << "migration did not finish; last progress "
                            << (run.polls.empty() ? "none" : run.polls.back().dump());
  return run;
}

/** A tcp: URI where nothing listens (a port bound and closed again). */
std::string dead_endpoint() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = 1;
  if (::bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return "tcp:127.0.0.1:" + std::to_string(port);
}

/** The guest on `after` is the same boot as `before` and kept running. */
void expect_same_guest(const GuestLiveness &before, const GuestLiveness &after,
                       const std::string &what) {
  ASSERT_TRUE(after.known) << what << ": the guest cannot be observed any more";
  EXPECT_EQ(after.boot_id, before.boot_id)
      << what << ": the guest rebooted (" << before.source << ")";
  if (before.heartbeat >= 0 && after.heartbeat >= 0) {
    EXPECT_GE(after.heartbeat, before.heartbeat) << what << ": heartbeat went backwards";
  }
  if (before.uptime_ms >= 0 && after.uptime_ms >= 0) {
    EXPECT_GE(after.uptime_ms, before.uptime_ms) << what << ": guest uptime went backwards";
  }
}

}  // namespace

HAL_CLAUSE(MG_001, kMigration, MUST, "",
           "a backend in the migration profile provides and declares "
           "migration_prepare_incoming, migration_send, migration_get_progress and "
           "migration_cancel, and declares features.liveMigration") {
  for (const char *entry : {"migration_prepare_incoming", "migration_send",
                            "migration_get_progress", "migration_cancel"}) {
    EXPECT_TRUE(S().plugin->has(entry)) << entry << " missing from the table";
    EXPECT_TRUE(S().declares_operation(entry)) << entry << " not declared";
  }
  EXPECT_TRUE(S().declares_feature("liveMigration")) << "features.liveMigration not declared";
}

HAL_CLAUSE(MG_002, kMigration, MUST, "",
           "a RUNNING VM migrates to a second instance: the source ends MIGRATED, the target "
           "RUNNING, each with a STATE_CHANGED event") {
  MigrationPair rig;
  Vm vm = source_vm(rig, "mig");
  Run run = migrate(rig, vm, {{"maxDowntimeMs", kMaxDowntimeMs}});
  ASSERT_EQ(run.send.status, HAL_OK) << "migration_send: " << run.send.str();
  EXPECT_EQ(run.final_progress.value("status", ""), "completed") << run.final_progress.dump();
  EXPECT_EQ(state_name(wait_state(vm, HAL_VM_STATE_MIGRATED, S().wait)), "Migrated");
  EXPECT_EQ(state_name(wait_state(run.target, HAL_VM_STATE_RUNNING, S().wait)), "Running");
  EXPECT_TRUE(rig.src_log.wait_state_event(vm.id(), HAL_VM_STATE_MIGRATED, S().wait))
      << rig.src_log.describe(vm.id());
  EXPECT_TRUE(rig.dst_log.wait_state_event(vm.id(), HAL_VM_STATE_RUNNING, S().wait))
      << rig.dst_log.describe(vm.id());
  EXPECT_EQ(run.target.info().value("id", ""), vm.id());
}

HAL_CLAUSE(MG_003, kMigration, MUST, "",
           "migration progress is reported: MIGRATION_PROGRESS events and "
           "migration_get_progress documents (valid against migration-progress.schema.json) "
           "during the migration, and a MIGRATION_FINISHED event with status completed") {
  MigrationPair rig;
  Vm vm = source_vm(rig, "progress");
  Run run = migrate(rig, vm, {{"maxDowntimeMs", kMaxDowntimeMs}});
  ASSERT_EQ(run.send.status, HAL_OK) << run.send.str();
  for (const auto &p : run.polls) {
    auto errors = validate_document("migration-progress", p, "progress");
    EXPECT_TRUE(errors.empty()) << format_errors(errors);
  }
  EXPECT_TRUE(rig.src_log.wait_for(
      [&](const Event &e) {
        return e.vm_id == vm.id() && e.type == HAL_EVENT_MIGRATION_FINISHED &&
               e.detail.is_object() && e.detail.value("status", "") == "completed";
      },
      S().wait))
      << "no MIGRATION_FINISHED(completed) event on the source";
  rig.src.drain_events();
  int progress_events = 0;
  for (const auto &e : rig.src_log.events(vm.id())) {
    if (e.type == HAL_EVENT_MIGRATION_PROGRESS) ++progress_events;
  }
  EXPECT_GE(progress_events, 1) << "no MIGRATION_PROGRESS event on the source";
}

HAL_CLAUSE(MG_004, kMigration, MUST, "",
           "migration progress is monotonic: transferredBytes never decreases, in polls and in "
           "events") {
  MigrationPair rig;
  Vm vm = source_vm(rig, "monotonic");
  Run run = migrate(rig, vm, {{"maxDowntimeMs", kMaxDowntimeMs}});
  ASSERT_EQ(run.send.status, HAL_OK) << run.send.str();
  int64_t last = -1;
  for (const auto &p : run.polls) {
    if (!p.contains("transferredBytes")) continue;
    int64_t t = p["transferredBytes"].get<int64_t>();
    EXPECT_GE(t, last) << "transferredBytes decreased in migration_get_progress";
    last = t;
  }
  EXPECT_GT(last, 0) << "no transferredBytes reported";
  rig.src_log.wait_for([&](const Event &e) { return e.type == HAL_EVENT_MIGRATION_FINISHED; },
                       S().wait);
  last = -1;
  for (const auto &e : rig.src_log.events(vm.id())) {
    if (e.type != HAL_EVENT_MIGRATION_PROGRESS && e.type != HAL_EVENT_MIGRATION_FINISHED) continue;
    if (!e.detail.is_object() || !e.detail.contains("transferredBytes")) continue;
    int64_t t = e.detail["transferredBytes"].get<int64_t>();
    EXPECT_GE(t, last) << "transferredBytes decreased in migration events";
    last = t;
  }
}

HAL_CLAUSE(MG_005, kMigration, MUST, "",
           "the guest keeps running across migration: same boot (console boot_id, else "
           "info.guest.bootCount), heartbeat and uptime continue, no GUEST_REBOOTED on the "
           "target") {
  MigrationPair rig;
  Vm vm = source_vm(rig, "continuity");
  GuestLiveness before = observe_guest(vm, S().wait);
  ASSERT_TRUE(before.known)
      << "the backend offers neither a console with HAL-GUEST heartbeats nor info.guest";
  Run run = migrate(rig, vm, {{"maxDowntimeMs", kMaxDowntimeMs}});
  ASSERT_EQ(run.send.status, HAL_OK) << run.send.str();
  ASSERT_EQ(state_name(wait_state(run.target, HAL_VM_STATE_RUNNING, S().wait)), "Running");
  sleep_ms(100);
  GuestLiveness after = observe_guest(run.target, S().wait);
  expect_same_guest(before, after, "after migration");
  rig.dst.drain_events();
  for (const auto &e : rig.dst_log.events(vm.id())) {
    EXPECT_NE(e.type, HAL_EVENT_GUEST_REBOOTED) << "the target reported a guest reboot";
  }
}

HAL_CLAUSE(MG_006, kMigration, MUST, "",
           "the downtime of a completed migration is reported (downtimeMs) and within the "
           "requested maxDowntimeMs") {
  MigrationPair rig;
  Vm vm = source_vm(rig, "downtime");
  Run run = migrate(rig, vm, {{"maxDowntimeMs", kMaxDowntimeMs}});
  ASSERT_EQ(run.send.status, HAL_OK) << run.send.str();
  ASSERT_EQ(run.final_progress.value("status", ""), "completed") << run.final_progress.dump();
  ASSERT_TRUE(run.final_progress.contains("downtimeMs"))
      << "completed progress lacks downtimeMs: " << run.final_progress.dump();
  EXPECT_LE(run.final_progress["downtimeMs"].get<int64_t>(), kMaxDowntimeMs);
}

HAL_CLAUSE(MG_007, kMigration, MUST, "",
           "migration_cancel of a running migration ends it as cancelled and leaves the source "
           "RUNNING (same guest boot) and the target not running") {
  MigrationPair rig;
  const nlohmann::json big = {{"memory", {{"size", "1Gi"}}}};
  Vm vm = source_vm(rig, "cancel", big);
  GuestLiveness before = observe_guest(vm, S().wait);
  Outcome cancel;
  Run run = migrate(
      rig, vm, {{"maxDowntimeMs", kMaxDowntimeMs}, {"bandwidthMiBps", 1}},
      [&](Vm &v) { cancel = outcome_of([&] { v.migration_cancel(); }); }, big);
  ASSERT_EQ(run.send.status, HAL_OK) << run.send.str();
  EXPECT_EQ(cancel.status, HAL_OK) << "migration_cancel: " << cancel.str();
  EXPECT_EQ(run.final_progress.value("status", ""), "cancelled") << run.final_progress.dump();
  EXPECT_EQ(state_name(wait_state(vm, HAL_VM_STATE_RUNNING, S().wait)), "Running");
  if (before.known) expect_same_guest(before, observe_guest(vm, S().wait), "after cancel");
  sleep_ms(100);
  Outcome o = outcome_of([&] {
    EXPECT_NE(state_name(run.target.state()), "Running") << "the target runs after cancel";
  });
  EXPECT_TRUE(o.status == HAL_OK || o.status == HAL_NOT_FOUND) << o.str();
}

HAL_CLAUSE(MG_008, kMigration, MUST, "",
           "a migration failing on the target side (endpoint where nothing listens) is "
           "reported as an error or a failed migration and leaves the source RUNNING with the "
           "same guest") {
  MigrationPair rig;
  Vm vm = source_vm(rig, "failtarget");
  GuestLiveness before = observe_guest(vm, S().wait);
  nlohmann::json params = {{"uri", dead_endpoint()}, {"maxDowntimeMs", kMaxDowntimeMs}};
  Outcome send = outcome_of([&] { vm.migration_send(params); });
  if (send.status == HAL_OK) {
    nlohmann::json p;
    auto deadline = std::chrono::steady_clock::now() + 2 * S().wait;
    while (std::chrono::steady_clock::now() < deadline) {
      p = vm.migration_progress();
      if (final_status(p.value("status", ""))) break;
      sleep_ms(10);
    }
    EXPECT_EQ(p.value("status", ""), "failed") << p.dump();
  } else {
    EXPECT_NE(send.status, HAL_INTERNAL) << send.str();
  }
  EXPECT_EQ(state_name(wait_state(vm, HAL_VM_STATE_RUNNING, S().wait)), "Running");
  if (before.known) expect_same_guest(before, observe_guest(vm, S().wait), "after a failure");
}

HAL_CLAUSE(MG_009, kMigration, MUST, "",
           "a TDX VM refuses migration with UNSUPPORTED (migration_prepare_incoming of a TDX "
           "spec; migration_send of a running TD where the host has TDX)") {
  MigrationPair rig;
  std::string name = S().vm_name("tdxmig");
  rig.dst_clean.add(name);
  rig.src_clean.add(name);
  nlohmann::json tdx = {{"launchSecurity", {{"type", "tdx"}, {"tdx", nlohmann::json::object()}}}};
  Outcome o = outcome_of([&] { rig.dst.migration_prepare_incoming(S().spec(name, tdx)); });
  EXPECT_EQ(status_name(o.status), "UNSUPPORTED") << "prepare_incoming of a TDX spec: " << o.str();
  if (S().host_tdx()) {
    Vm vm = rig.src.create(S().spec(name, tdx));
    vm.start();
    ASSERT_EQ(state_name(wait_state(vm, HAL_VM_STATE_RUNNING, S().wait)), "Running");
    Outcome send = outcome_of([&] { vm.migration_send({{"uri", dead_endpoint()}}); });
    EXPECT_EQ(status_name(send.status), "UNSUPPORTED") << send.str();
    EXPECT_EQ(state_name(vm.state()), "Running");
  }
}

HAL_CLAUSE(MG_010, kMigration, MUST, "",
           "migration_cancel with no migration running and migration_send of a STOPPED VM "
           "answer FAILED_PRECONDITION") {
  MigrationPair rig;
  std::string name = S().vm_name("migpre");
  rig.src_clean.add(name);
  Vm vm = rig.src.create(S().spec(name));
  Outcome o = outcome_of([&] { vm.migration_send({{"uri", dead_endpoint()}}); });
  EXPECT_EQ(status_name(o.status), "FAILED_PRECONDITION") << "send of a STOPPED VM: " << o.str();
  vm.start();
  ASSERT_EQ(state_name(wait_state(vm, HAL_VM_STATE_RUNNING, S().wait)), "Running");
  o = outcome_of([&] { vm.migration_cancel(); });
  EXPECT_EQ(status_name(o.status), "FAILED_PRECONDITION")
      << "cancel with none running: " << o.str();
}

HAL_CLAUSE(MG_011, kMigration, SHOULD, "",
           "migration_get_progress on the target reports the completed migration too") {
  MigrationPair rig;
  Vm vm = source_vm(rig, "tprogress");
  Run run = migrate(rig, vm, {{"maxDowntimeMs", kMaxDowntimeMs}});
  ASSERT_EQ(run.send.status, HAL_OK) << run.send.str();
  wait_state(run.target, HAL_VM_STATE_RUNNING, S().wait);
  nlohmann::json p = run.target.migration_progress();
  EXPECT_EQ(p.value("status", ""), "completed") << p.dump();
}

HAL_CLAUSE(MG_012, kMigration, MUST, "",
           "a MIGRATED source answers vm_force_stop with OK and stays MIGRATED, and vm_delete "
           "then removes it while the target keeps running") {
  MigrationPair rig;
  Vm vm = source_vm(rig, "migforce");
  Run run = migrate(rig, vm, {{"maxDowntimeMs", kMaxDowntimeMs}});
  ASSERT_EQ(run.send.status, HAL_OK) << run.send.str();
  ASSERT_EQ(state_name(wait_state(vm, HAL_VM_STATE_MIGRATED, S().wait)), "Migrated");
  ASSERT_EQ(state_name(wait_state(run.target, HAL_VM_STATE_RUNNING, S().wait)), "Running");
  Outcome o = outcome_of([&] { vm.force_stop(); });
  EXPECT_EQ(status_name(o.status), "OK") << "vm_force_stop of a MIGRATED VM: " << o.str();
  EXPECT_EQ(state_name(vm.state()), "Migrated") << "vm_force_stop changed a MIGRATED VM";
  o = outcome_of([&] { vm.delete_vm(); });
  EXPECT_EQ(status_name(o.status), "OK") << "vm_delete of a MIGRATED VM: " << o.str();
  EXPECT_FALSE(list_has(rig.src.list(), vm.id())) << rig.src.list().dump();
  EXPECT_EQ(state_name(run.target.state()), "Running") << "deleting the source hit the target";
}

HAL_CLAUSE(MG_017, kMigration, MUST, "",
           "the reported downtimeMs is not less than the downtime the guest saw: host time "
           "minus the guest's own clock between its last heartbeat on the source and its first "
           "on the target (within 250 ms + 25%)") {
  MigrationPair rig;
  Vm vm = source_vm(rig, "evdowntime");
  auto source = ConsoleWatch::attach(vm);
  if (!source) {
    GTEST_SKIP() << kNeedsGuest << "the backend offers no guest console to measure downtime on";
  }
  auto beat = source->next_heartbeat(S().wait);
  ASSERT_TRUE(beat) << "no heartbeat on the source's console:" << source->tail();
  if (beat->guest_clock_ms < 0) {
    GTEST_SKIP() << kNeedsGuest << "the guest's heartbeats carry no clock (uptime_ms=)";
  }
  Run run = migrate(rig, vm, {{"maxDowntimeMs", kMaxDowntimeMs}});
  ASSERT_EQ(run.send.status, HAL_OK) << run.send.str();
  ASSERT_EQ(run.final_progress.value("status", ""), "completed") << run.final_progress.dump();
  ASSERT_TRUE(run.final_progress.contains("downtimeMs")) << run.final_progress.dump();
  const int64_t reported = run.final_progress["downtimeMs"].get<int64_t>();
  ASSERT_EQ(state_name(wait_state(run.target, HAL_VM_STATE_RUNNING, S().wait)), "Running");
  std::optional<ConsoleLine> last_on_source;
  for (const ConsoleLine &line : source->lines()) {
    if (line.marker == "heartbeat") last_on_source = line;
  }
  auto target = ConsoleWatch::attach(run.target);
  ASSERT_TRUE(target) << "the target offers no console after the migration";
  // Lines a console replays to a new client arrive late; the smallest gap over a few live
  // heartbeats is the downtime.
  std::optional<GuestClockGap> gap;
  size_t from = 0;
  for (int i = 0; i < 3; ++i) {
    auto line = target->next_heartbeat(S().wait, from);
    if (!line) break;
    from = target->size();
    EXPECT_EQ(line->boot_id, last_on_source->boot_id) << "the guest rebooted in the migration";
    auto g = clock_gap(*last_on_source, *line);
    if (g && (!gap || g->stopped_ms < gap->stopped_ms)) gap = g;
  }
  ASSERT_TRUE(gap) << "no heartbeat with a clock on the target's console:" << target->tail();
  const int64_t measured = std::max<int64_t>(0, gap->stopped_ms);
  ::testing::Test::RecordProperty("measuredDowntimeMs", std::to_string(measured));
  EXPECT_GE(reported, measured - 250 - measured / 4)
      << "the backend reported downtimeMs " << reported << " but the guest was stopped for "
      << measured << " ms (host " << gap->host_ms << " ms, guest clock " << gap->guest_ms
      << " ms between its last heartbeat on the source and one on the target)";
}

}  // namespace hal::conformance
