// lifecycle_clauses.cc - clauses of the "lifecycle" profile: identity and capability documents,
// every state transition and its events, illegal transitions, idempotency, concurrency, graceful
// and forced stop, delete, re-adoption, and bad specs / arguments / flags at the C boundary.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "clause.h"
#include "core/plugin/entries.h"
#include "core/spec/vm_spec_validation.h"
#include "guest.h"
#include "hal/host.hpp"
#include "suite.h"

namespace hal::conformance {
namespace {

constexpr const char *kLifecycle = "lifecycle";
constexpr uint32_t kBogusFlag = 1u << 30;

Suite &S() {
  return suite();
}

/** The status of `fn` must be `want`. */
#define EXPECT_STATUS(want, fn, what)                                                 \
  do {                                                                                \
    Outcome o_ = outcome_of([&] { fn; });                                             \
    EXPECT_EQ(status_name(o_.status), status_name(want)) << what << ": " << o_.str(); \
  } while (0)

bool sane_timestamp(uint64_t ns) {
  auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  int64_t diff = static_cast<int64_t>(ns) - now;
  return diff > -600'000'000'000LL && diff < 60'000'000'000LL;
}

}  // namespace

HAL_CLAUSE(LC_001, kLifecycle, MUST, "",
           "get_identity answers name, vendor, version and hypervisor, and the plugin "
           "negotiates ABI major 1 with a minor no newer than the host offered") {
  const auto &id = S().plugin->identity();
  for (const char *key : {"name", "vendor", "version", "hypervisor"}) {
    ASSERT_TRUE(id.contains(key) && id[key].is_string() && !id[key].get<std::string>().empty())
        << "identity lacks a non-empty \"" << key << "\": " << id.dump();
  }
  EXPECT_EQ(HAL_VERSION_MAJOR(S().plugin->negotiated_version()), 1u);
  EXPECT_LE(HAL_VERSION_MINOR(S().plugin->negotiated_version()),
            HAL_VERSION_MINOR(S().plugin->offered_version()));
}

HAL_CLAUSE(LC_002, kLifecycle, MUST, "",
           "get_capabilities answers a document valid against capabilities.schema.json whose "
           "abiVersion is the negotiated ABI version") {
  Backend backend = S().open();
  nlohmann::json caps = backend.capabilities();
  auto errors = validate_document("capabilities", caps, "capabilities");
  EXPECT_TRUE(errors.empty()) << format_errors(errors);
  EXPECT_EQ(caps.value("abiVersion", ""), version_string(S().plugin->negotiated_version()));
}

HAL_CLAUSE(LC_003, kLifecycle, MUST, "",
           "the capabilities' operations agree with the function table: an optional entry is "
           "declared exactly when the table provides it, and no required entry is declared "
           "absent") {
  for (const auto &entry : kTableEntries) {
    bool has = S().plugin->has(entry.name);
    if (entry.required) {
      const auto ops = S().capabilities.value("operations", nlohmann::json::object());
      if (ops.contains(entry.name)) {
        EXPECT_TRUE(ops[entry.name].get<bool>())
            << "required entry " << entry.name << " declared false";
      }
      continue;
    }
    EXPECT_EQ(S().declares_operation(entry.name), has)
        << "operation " << entry.name << ": capabilities say "
        << (S().declares_operation(entry.name) ? "present" : "absent") << ", table says "
        << (has ? "present" : "absent");
  }
}

HAL_CLAUSE(LC_004, kLifecycle, MUST, "",
           "get_host_info answers a document valid against host-info.schema.json") {
  Backend backend = S().open();
  nlohmann::json info = backend.host_info();
  auto errors = validate_document("host-info", info, "hostInfo");
  EXPECT_TRUE(errors.empty()) << format_errors(errors);
}

HAL_CLAUSE(LC_005, kLifecycle, MUST, "",
           "vm_create defines a STOPPED VM that vm_list, vm_lookup and vm_get_info (id, state) "
           "report") {
  Backend backend = S().open();
  Cleanup cleanup(backend);
  Vm vm = create_vm(backend, cleanup, "create");
  EXPECT_EQ(state_name(vm.state()), "Stopped");
  EXPECT_TRUE(list_has(backend.list(), vm.id())) << backend.list().dump();
  Vm again = backend.lookup(vm.id());
  EXPECT_EQ(state_name(again.state()), "Stopped");
  nlohmann::json info = vm.info();
  EXPECT_EQ(info.value("id", ""), vm.id());
  EXPECT_EQ(info.value("state", ""), "Stopped");
}

HAL_CLAUSE(LC_006, kLifecycle, MUST, "",
           "vm_start brings a STOPPED VM to RUNNING and a STATE_CHANGED event reports RUNNING "
           "with the VM's id and a current timestamp") {
  Backend backend = S().open();
  EventLog log(backend);
  Cleanup cleanup(backend);
  Vm vm = create_vm(backend, cleanup, "start");
  vm.start();
  EXPECT_EQ(state_name(vm.state()), "Running") << "vm_start returned before RUNNING";
  ASSERT_TRUE(log.wait_state_event(vm.id(), HAL_VM_STATE_RUNNING, S().wait))
      << "no STATE_CHANGED(Running) event; got " << log.describe(vm.id());
  for (const auto &e : log.events(vm.id())) {
    EXPECT_TRUE(sane_timestamp(e.timestamp_ns)) << "event timestamp " << e.timestamp_ns;
  }
}

HAL_CLAUSE(LC_007, kLifecycle, MUST, "operations.vm_pause",
           "vm_pause makes a RUNNING VM PAUSED (guest clock frozen) and vm_resume makes it "
           "RUNNING again, each with a STATE_CHANGED event") {
  Backend backend = S().open();
  EventLog log(backend);
  Cleanup cleanup(backend);
  Vm vm = running_vm(backend, cleanup, "pause");
  vm.pause();
  EXPECT_EQ(state_name(vm.state()), "Paused") << "vm_pause returned OK but the VM is not Paused";
  EXPECT_TRUE(log.wait_state_event(vm.id(), HAL_VM_STATE_PAUSED, S().wait))
      << "no STATE_CHANGED(Paused) event; got " << log.describe(vm.id());
  nlohmann::json g1 = vm.info().value("guest", nlohmann::json::object());
  sleep_ms(300);
  nlohmann::json g2 = vm.info().value("guest", nlohmann::json::object());
  for (const char *key : {"uptimeMs", "heartbeat"}) {
    if (g1.contains(key) && g2.contains(key)) {
      EXPECT_EQ(g1[key], g2[key]) << "guest " << key << " advanced while Paused";
    }
  }
  log.clear();
  vm.resume();
  EXPECT_EQ(state_name(vm.state()), "Running");
  EXPECT_TRUE(log.wait_state_event(vm.id(), HAL_VM_STATE_RUNNING, S().wait))
      << "no STATE_CHANGED(Running) event after resume; got " << log.describe(vm.id());
}

HAL_CLAUSE(LC_008, kLifecycle, MUST, "", "vm_start with HAL_START_PAUSED leaves the VM PAUSED") {
  Backend backend = S().open();
  Cleanup cleanup(backend);
  Vm vm = create_vm(backend, cleanup, "startpaused");
  vm.start(HAL_START_PAUSED);
  EXPECT_EQ(state_name(wait_state(vm, HAL_VM_STATE_PAUSED, S().wait)), "Paused");
}

HAL_CLAUSE(LC_009, kLifecycle, MUST, "",
           "illegal transitions answer FAILED_PRECONDITION and change nothing: delete of a "
           "RUNNING VM, start of a PAUSED VM, pause/resume/reboot/reset/console of a STOPPED VM") {
  Backend backend = S().open();
  Cleanup cleanup(backend);
  Vm stopped = create_vm(backend, cleanup, "illegal-stopped");
  if (S().plugin->has("vm_pause")) {
    EXPECT_STATUS(HAL_FAILED_PRECONDITION, stopped.pause(), "vm_pause of a STOPPED VM");
  }
  if (S().plugin->has("vm_resume")) {
    EXPECT_STATUS(HAL_FAILED_PRECONDITION, stopped.resume(), "vm_resume of a STOPPED VM");
  }
  if (S().plugin->has("vm_reboot")) {
    EXPECT_STATUS(HAL_FAILED_PRECONDITION, stopped.reboot(), "vm_reboot of a STOPPED VM");
  }
  if (S().plugin->has("vm_reset")) {
    EXPECT_STATUS(HAL_FAILED_PRECONDITION, stopped.reset(), "vm_reset of a STOPPED VM");
  }
  if (S().plugin->has("vm_get_console")) {
    EXPECT_STATUS(HAL_FAILED_PRECONDITION, stopped.console(), "vm_get_console of a STOPPED VM");
  }
  EXPECT_EQ(state_name(stopped.state()), "Stopped");

  Vm running = running_vm(backend, cleanup, "illegal-running");
  EXPECT_STATUS(HAL_FAILED_PRECONDITION, running.delete_vm(), "vm_delete of a RUNNING VM");
  EXPECT_EQ(state_name(running.state()), "Running");
  EXPECT_TRUE(list_has(backend.list(), running.id()));

  Vm paused = create_vm(backend, cleanup, "illegal-paused");
  paused.start(HAL_START_PAUSED);
  ASSERT_EQ(state_name(wait_state(paused, HAL_VM_STATE_PAUSED, S().wait)), "Paused");
  EXPECT_STATUS(HAL_FAILED_PRECONDITION, paused.start(), "vm_start of a PAUSED VM");
  EXPECT_STATUS(HAL_FAILED_PRECONDITION, paused.delete_vm(), "vm_delete of a PAUSED VM");
  EXPECT_EQ(state_name(paused.state()), "Paused");
}

HAL_CLAUSE(LC_010, kLifecycle, MUST, "",
           "repeated calls are idempotent: start of a RUNNING VM, force stop of a STOPPED VM, "
           "pause of a PAUSED VM, resume of a RUNNING VM and shutdown of a STOPPED VM answer OK "
           "and change nothing (no state event)") {
  Backend backend = S().open();
  EventLog log(backend);
  Cleanup cleanup(backend);
  Vm vm = create_vm(backend, cleanup, "idem");
  EXPECT_STATUS(HAL_OK, vm.force_stop(), "vm_force_stop of a STOPPED VM");
  if (S().plugin->has("vm_shutdown")) {
    EXPECT_STATUS(HAL_OK, vm.shutdown(std::chrono::milliseconds(1000)),
                  "vm_shutdown of a STOPPED VM");
  }
  EXPECT_EQ(state_name(vm.state()), "Stopped");
  vm.start();
  ASSERT_EQ(state_name(wait_state(vm, HAL_VM_STATE_RUNNING, S().wait)), "Running");
  ASSERT_TRUE(log.wait_state_event(vm.id(), HAL_VM_STATE_RUNNING, S().wait));
  sleep_ms(100);
  backend.drain_events();
  size_t before = log.count(vm.id());
  EXPECT_STATUS(HAL_OK, vm.start(), "vm_start of a RUNNING VM");
  if (S().plugin->has("vm_resume")) {
    EXPECT_STATUS(HAL_OK, vm.resume(), "vm_resume of a RUNNING VM");
  }
  sleep_ms(200);
  backend.drain_events();
  EXPECT_EQ(log.count(vm.id()), before)
      << "repeated start/resume emitted events: " << log.describe(vm.id());
  EXPECT_EQ(state_name(vm.state()), "Running");
  if (S().plugin->has("vm_pause")) {
    vm.pause();
    EXPECT_STATUS(HAL_OK, vm.pause(), "vm_pause of a PAUSED VM");
    EXPECT_EQ(state_name(vm.state()), "Paused");
  }
}

HAL_CLAUSE(LC_011, kLifecycle, MUST, "",
           "vm_force_stop stops a RUNNING or PAUSED VM at once (STOPPED, with a STATE_CHANGED "
           "event)") {
  Backend backend = S().open();
  EventLog log(backend);
  Cleanup cleanup(backend);
  Vm vm = running_vm(backend, cleanup, "force");
  vm.force_stop();
  EXPECT_EQ(state_name(vm.state()), "Stopped");
  EXPECT_TRUE(log.wait_state_event(vm.id(), HAL_VM_STATE_STOPPED, S().wait))
      << log.describe(vm.id());
  Vm paused = create_vm(backend, cleanup, "force-paused");
  paused.start(HAL_START_PAUSED);
  ASSERT_EQ(state_name(wait_state(paused, HAL_VM_STATE_PAUSED, S().wait)), "Paused");
  paused.force_stop();
  EXPECT_EQ(state_name(paused.state()), "Stopped");
}

HAL_CLAUSE(LC_012, kLifecycle, MUST, "operations.vm_shutdown",
           "vm_shutdown powers a RUNNING guest off within the timeout (STOPPED, with a "
           "STATE_CHANGED event)") {
  Backend backend = S().open();
  EventLog log(backend);
  Cleanup cleanup(backend);
  Vm vm = running_vm(backend, cleanup, "shutdown");
  EXPECT_TRUE(wait_guest_ready(vm, S().wait)) << "no HAL-GUEST ready/heartbeat on the console";
  auto t0 = std::chrono::steady_clock::now();
  vm.shutdown(S().wait);
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(state_name(vm.state()), "Stopped");
  EXPECT_LE(took, S().wait + std::chrono::seconds(5));
  EXPECT_TRUE(log.wait_state_event(vm.id(), HAL_VM_STATE_STOPPED, S().wait))
      << log.describe(vm.id());
}

HAL_CLAUSE(LC_013, kLifecycle, MUST, "operations.vm_shutdown",
           "the graceful shutdown timeout is honoured: after it passes the VM is force-stopped, "
           "or with HAL_SHUTDOWN_NO_FORCE the call answers OK or DEADLINE_EXCEEDED and leaves "
           "the guest running") {
  Backend backend = S().open();
  Cleanup cleanup(backend);
  Vm vm = running_vm(backend, cleanup, "shutdown-timeout");
  Outcome o = outcome_of([&] { vm.shutdown(std::chrono::milliseconds(1), HAL_SHUTDOWN_NO_FORCE); });
  EXPECT_TRUE(o.status == HAL_OK || o.status == HAL_DEADLINE_EXCEEDED) << o.str();
  if (o.status == HAL_DEADLINE_EXCEEDED) {
    std::string st = state_name(vm.state());
    EXPECT_TRUE(st == "Running" || st == "ShuttingDown")
        << "after DEADLINE_EXCEEDED with NO_FORCE the VM is " << st;
  }
  vm.force_stop();
  vm.start();
  ASSERT_EQ(state_name(wait_state(vm, HAL_VM_STATE_RUNNING, S().wait)), "Running");
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_STATUS(HAL_OK, vm.shutdown(std::chrono::milliseconds(1)), "vm_shutdown(1 ms)");
  EXPECT_EQ(state_name(vm.state()), "Stopped") << "not force-stopped after the timeout";
  EXPECT_LE(std::chrono::steady_clock::now() - t0, S().wait);
}

HAL_CLAUSE(LC_014, kLifecycle, MUST, "operations.vm_reboot",
           "vm_reboot keeps the VM RUNNING and reports a GUEST_REBOOTED event") {
  Backend backend = S().open();
  EventLog log(backend);
  Cleanup cleanup(backend);
  Vm vm = running_vm(backend, cleanup, "reboot");
  EXPECT_TRUE(wait_guest_ready(vm, S().wait)) << "no HAL-GUEST ready/heartbeat on the console";
  vm.reboot();
  EXPECT_TRUE(log.wait_for(
      [&](const Event &e) { return e.vm_id == vm.id() && e.type == HAL_EVENT_GUEST_REBOOTED; },
      S().wait))
      << "no GUEST_REBOOTED event; got " << log.describe(vm.id());
  EXPECT_EQ(state_name(wait_state(vm, HAL_VM_STATE_RUNNING, S().wait)), "Running");
}

HAL_CLAUSE(LC_015, kLifecycle, MUST, "operations.vm_reset",
           "vm_reset hard-resets a RUNNING VM, which stays RUNNING, with a GUEST_REBOOTED event") {
  Backend backend = S().open();
  EventLog log(backend);
  Cleanup cleanup(backend);
  Vm vm = running_vm(backend, cleanup, "reset");
  vm.reset();
  EXPECT_TRUE(log.wait_for(
      [&](const Event &e) { return e.vm_id == vm.id() && e.type == HAL_EVENT_GUEST_REBOOTED; },
      S().wait))
      << "no GUEST_REBOOTED event; got " << log.describe(vm.id());
  EXPECT_EQ(state_name(wait_state(vm, HAL_VM_STATE_RUNNING, S().wait)), "Running");
}

HAL_CLAUSE(LC_016, kLifecycle, MUST, "",
           "vm_delete frees everything: the VM leaves vm_list, lookup answers NOT_FOUND, the old "
           "handle's vm_get_state answers NOT_FOUND and the name can be reused") {
  Backend backend = S().open();
  Cleanup cleanup(backend);
  Vm vm = running_vm(backend, cleanup, "delete");
  vm.force_stop();
  vm.delete_vm();
  EXPECT_FALSE(list_has(backend.list(), vm.id())) << backend.list().dump();
  EXPECT_STATUS(HAL_NOT_FOUND, backend.lookup(vm.id()), "vm_lookup of a deleted VM");
  EXPECT_STATUS(HAL_NOT_FOUND, vm.state(), "vm_get_state through the deleted VM's handle");
  EXPECT_STATUS(HAL_NOT_FOUND, vm.info(), "vm_get_info through the deleted VM's handle");
  vm.release();
  Vm again = backend.create(S().spec(vm.id()));
  EXPECT_EQ(state_name(again.state()), "Stopped");
}

HAL_CLAUSE(LC_017, kLifecycle, MUST, "",
           "vm_create of a name already taken answers ALREADY_EXISTS and leaves the first VM "
           "untouched") {
  Backend backend = S().open();
  Cleanup cleanup(backend);
  Vm vm = running_vm(backend, cleanup, "dup");
  EXPECT_STATUS(HAL_ALREADY_EXISTS, backend.create(S().spec(vm.id())), "second vm_create");
  EXPECT_EQ(state_name(vm.state()), "Running");
}

HAL_CLAUSE(LC_018, kLifecycle, MUST, "",
           "vm_lookup of an unknown id answers NOT_FOUND with a message") {
  Backend backend = S().open();
  Outcome o = outcome_of([&] { backend.lookup(S().vm_name("nosuch")); });
  EXPECT_EQ(status_name(o.status), "NOT_FOUND") << o.str();
}

HAL_CLAUSE(LC_019, kLifecycle, MUST, "",
           "calls on different VMs run concurrently from many threads: 8 threads x 3 VMs each "
           "go through create, start, pause/resume, force stop and delete without errors") {
  Backend backend = S().open();
  constexpr int kThreads = 8, kPerThread = 3;
  std::mutex mu;
  std::vector<std::string> errors;
  std::vector<std::string> names;
  for (int i = 0; i < kThreads * kPerThread; ++i) names.push_back(S().vm_name("conc"));
  bool pause = S().plugin->has("vm_pause") && S().plugin->has("vm_resume");
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < kPerThread; ++k) {
        const std::string &name = names[t * kPerThread + k];
        Outcome o = outcome_of([&] {
          Vm vm = backend.create(S().spec(name));
          vm.start();
          if (wait_state(vm, HAL_VM_STATE_RUNNING, S().wait) != HAL_VM_STATE_RUNNING) {
            throw Error(HAL_UNKNOWN, "did not reach Running");
          }
          if (pause) {
            vm.pause();
            vm.resume();
          }
          (void)vm.info();
          vm.force_stop();
          vm.delete_vm();
        });
        if (o.status != HAL_OK) {
          std::lock_guard lock(mu);
          errors.push_back(name + ": " + o.str());
        }
      }
    });
  }
  for (auto &th : threads) th.join();
  EXPECT_TRUE(errors.empty()) << errors.size() << " failures, first: " << errors.front();
  nlohmann::json list = backend.list();
  for (const auto &name : names) {
    EXPECT_FALSE(list_has(list, name)) << name << " still listed after delete";
  }
  Cleanup cleanup(backend);
  for (const auto &name : names) cleanup.add(name);
}

HAL_CLAUSE(LC_020, kLifecycle, MUST, "",
           "re-adoption: after close (without stopping) and a new open with the same config, "
           "vm_list and vm_lookup find the VMs in their states") {
  std::string running_id, stopped_id;
  {
    Backend backend = S().open();
    Vm running = backend.create(S().spec(S().vm_name("adopt-run")));
    running_id = running.id();
    running.start();
    ASSERT_EQ(state_name(wait_state(running, HAL_VM_STATE_RUNNING, S().wait)), "Running");
    Vm stopped = backend.create(S().spec(S().vm_name("adopt-stop")));
    stopped_id = stopped.id();
    running.release();
    stopped.release();
    backend.close(HAL_CLOSE_KEEP_VMS);
  }
  Backend backend = S().open();
  Cleanup cleanup(backend);
  cleanup.add(running_id);
  cleanup.add(stopped_id);
  nlohmann::json list = backend.list();
  EXPECT_TRUE(list_has(list, running_id)) << list.dump();
  EXPECT_TRUE(list_has(list, stopped_id)) << list.dump();
  Outcome o = outcome_of([&] {
    Vm vm = backend.lookup(running_id);
    EXPECT_EQ(state_name(vm.state()), "Running");
  });
  EXPECT_EQ(o.status, HAL_OK) << o.str();
  o = outcome_of([&] {
    Vm vm = backend.lookup(stopped_id);
    EXPECT_EQ(state_name(vm.state()), "Stopped");
  });
  EXPECT_EQ(o.status, HAL_OK) << o.str();
}

HAL_CLAUSE(LC_021, kLifecycle, MUST, "",
           "NULL required pointers answer INVALID_ARGUMENT (vm_create, vm_lookup, vm_get_state, "
           "vm_list, get_capabilities), never a crash") {
  RawBackend raw(S().config);
  ASSERT_NE(raw.get(), nullptr);
  const auto &t = raw.table();
  ErrorBuffer err;
  hal_vm *vm = nullptr;
  char *out = nullptr;
  EXPECT_EQ(status_name(t.vm_create(raw.get(), nullptr, 0, &vm, err.get())), "INVALID_ARGUMENT");
  std::string spec = S().spec(S().vm_name("null")).dump();
  EXPECT_EQ(status_name(t.vm_create(raw.get(), spec.c_str(), 0, nullptr, err.get())),
            "INVALID_ARGUMENT");
  EXPECT_EQ(status_name(t.vm_lookup(raw.get(), nullptr, 0, &vm, err.get())), "INVALID_ARGUMENT");
  EXPECT_EQ(status_name(t.vm_list(raw.get(), 0, nullptr, err.get())), "INVALID_ARGUMENT");
  EXPECT_EQ(status_name(t.get_capabilities(raw.get(), 0, nullptr, err.get())), "INVALID_ARGUMENT");
  EXPECT_EQ(status_name(t.get_identity(0, nullptr, err.get())), "INVALID_ARGUMENT");
  EXPECT_EQ(out, nullptr);
  std::string name = S().vm_name("null-state");
  std::string spec2 = S().spec(name).dump();
  Outcome o = raw.create(spec2.c_str(), 0, &vm);
  ASSERT_EQ(o.status, HAL_OK) << o.str();
  EXPECT_EQ(status_name(t.vm_get_state(vm, 0, nullptr, err.get())), "INVALID_ARGUMENT");
  EXPECT_EQ(status_name(t.vm_get_info(vm, 0, nullptr, err.get())), "INVALID_ARGUMENT");
  raw.release(vm);
  raw.remove(name);
}

HAL_CLAUSE(LC_022, kLifecycle, MUST, "",
           "an unknown flag bit answers INVALID_ARGUMENT on every entry and has no effect") {
  RawBackend raw(S().config);
  ASSERT_NE(raw.get(), nullptr);
  const auto &t = raw.table();
  ErrorBuffer err;
  OwnedString out(t.free_string);
  EXPECT_EQ(status_name(t.get_identity(kBogusFlag, out.out(), err.get())), "INVALID_ARGUMENT");
  EXPECT_EQ(status_name(t.get_capabilities(raw.get(), kBogusFlag, out.out(), err.get())),
            "INVALID_ARGUMENT");
  EXPECT_EQ(status_name(t.get_host_info(raw.get(), kBogusFlag, out.out(), err.get())),
            "INVALID_ARGUMENT");
  EXPECT_EQ(status_name(t.vm_list(raw.get(), kBogusFlag, out.out(), err.get())),
            "INVALID_ARGUMENT");
  std::string name = S().vm_name("flags");
  std::string spec = S().spec(name).dump();
  hal_vm *vm = nullptr;
  Outcome o = raw.create(spec.c_str(), kBogusFlag, &vm);
  EXPECT_EQ(status_name(o.status), "INVALID_ARGUMENT") << "vm_create: " << o.str();
  raw.release(vm);
  EXPECT_FALSE(list_has(raw.list(), name)) << "vm_create with an unknown flag defined the VM";
  o = raw.create(spec.c_str(), 0, &vm);
  ASSERT_EQ(o.status, HAL_OK) << o.str();
  hal_vm *vm2 = nullptr;
  EXPECT_EQ(status_name(t.vm_lookup(raw.get(), name.c_str(), kBogusFlag, &vm2, err.get())),
            "INVALID_ARGUMENT");
  raw.release(vm2);
  hal_vm_state state = 0;
  EXPECT_EQ(status_name(t.vm_start(vm, kBogusFlag, err.get())), "INVALID_ARGUMENT") << "vm_start";
  EXPECT_EQ(t.vm_get_state(vm, 0, &state, err.get()), HAL_OK);
  EXPECT_EQ(state_name(state), "Stopped") << "vm_start with an unknown flag started the VM";
  EXPECT_EQ(status_name(t.vm_get_state(vm, kBogusFlag, &state, err.get())), "INVALID_ARGUMENT");
  EXPECT_EQ(status_name(t.vm_get_info(vm, kBogusFlag, out.out(), err.get())), "INVALID_ARGUMENT");
  EXPECT_EQ(status_name(t.vm_force_stop(vm, kBogusFlag, err.get())), "INVALID_ARGUMENT");
  EXPECT_EQ(status_name(t.vm_delete(vm, kBogusFlag, err.get())), "INVALID_ARGUMENT") << "vm_delete";
  EXPECT_TRUE(list_has(raw.list(), name)) << "vm_delete with an unknown flag deleted the VM";
  auto check_vm = [&](const char *entry, auto fn) {
    if (fn == nullptr) return;
    EXPECT_EQ(status_name(fn(vm, kBogusFlag, err.get())), "INVALID_ARGUMENT") << entry;
  };
  check_vm("vm_pause", t.vm_pause);
  check_vm("vm_resume", t.vm_resume);
  check_vm("vm_reboot", t.vm_reboot);
  check_vm("vm_reset", t.vm_reset);
  check_vm("migration_cancel", t.migration_cancel);
  if (auto fn = t.vm_shutdown) {
    EXPECT_EQ(status_name(fn(vm, 1000, kBogusFlag, err.get())), "INVALID_ARGUMENT")
        << "vm_shutdown";
  }
  if (auto fn = t.vm_get_console) {
    EXPECT_EQ(status_name(fn(vm, kBogusFlag, out.out(), err.get())), "INVALID_ARGUMENT")
        << "vm_get_console";
  }
  if (auto fn = t.migration_get_progress) {
    EXPECT_EQ(status_name(fn(vm, kBogusFlag, out.out(), err.get())), "INVALID_ARGUMENT")
        << "migration_get_progress";
  }
  if (auto fn = t.migration_send) {
    EXPECT_EQ(status_name(fn(vm, R"({"uri":"tcp:127.0.0.1:1"})", kBogusFlag, err.get())),
              "INVALID_ARGUMENT")
        << "migration_send";
  }
  EXPECT_EQ(t.vm_get_state(vm, 0, &state, err.get()), HAL_OK);
  EXPECT_EQ(state_name(state), "Stopped");
  raw.release(vm);
  raw.remove(name);
  EXPECT_EQ(status_name(t.close(raw.get(), kBogusFlag, err.get())), "INVALID_ARGUMENT")
      << "close (the backend must stay open)";
}

HAL_CLAUSE(LC_023, kLifecycle, MUST, "",
           "vm_create of malformed JSON, a non-object or a spec missing required fields answers "
           "INVALID_ARGUMENT with a message, defines nothing and never crashes") {
  RawBackend raw(S().config);
  ASSERT_NE(raw.get(), nullptr);
  std::string name = S().vm_name("badspec");
  nlohmann::json no_cpu = S().spec(name);
  no_cpu.erase("cpu");
  nlohmann::json zero_vcpus = S().spec(name);
  zero_vcpus["cpu"]["vcpus"] = 0;
  nlohmann::json bad_memory = S().spec(name);
  bad_memory["memory"]["size"] = "lots";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"malformed JSON", "{\"apiVersion\": \"hal.dev/v1\", \"name\": "},
      {"a JSON array", "[1, 2, 3]"},
      {"an empty string", ""},
      {"a spec without cpu", no_cpu.dump()},
      {"a spec with 0 vCPUs", zero_vcpus.dump()},
      {"a spec with memory \"lots\"", bad_memory.dump()},
  };
  for (const auto &[what, text] : cases) {
    hal_vm *vm = nullptr;
    Outcome o = raw.create(text.c_str(), 0, &vm);
    EXPECT_EQ(status_name(o.status), "INVALID_ARGUMENT") << what << ": " << o.str();
    EXPECT_FALSE(o.status != HAL_OK && o.message.empty()) << what << ": empty error message";
    EXPECT_EQ(vm, nullptr) << what << ": handle returned with an error";
    raw.release(vm);
    EXPECT_FALSE(list_has(raw.list(), name)) << what << " defined a VM";
    raw.remove(name);
  }
}

HAL_CLAUSE(LC_024, kLifecycle, MUST, "",
           "vm_create with HAL_CREATE_VALIDATE_ONLY checks the spec but defines nothing") {
  Backend backend = S().open();
  std::string name = S().vm_name("validate");
  Vm vm = backend.create(S().spec(name), HAL_CREATE_VALIDATE_ONLY);
  EXPECT_FALSE(static_cast<bool>(vm)) << "a handle was returned";
  EXPECT_FALSE(list_has(backend.list(), name));
  EXPECT_STATUS(HAL_NOT_FOUND, backend.lookup(name), "vm_lookup after VALIDATE_ONLY");
}

HAL_CLAUSE(LC_025, kLifecycle, MUST, "",
           "vm_create with HAL_CREATE_START defines the VM and starts it (RUNNING)") {
  Backend backend = S().open();
  Cleanup cleanup(backend);
  Vm vm = create_vm(backend, cleanup, "createstart", nlohmann::json::object(), HAL_CREATE_START);
  EXPECT_EQ(state_name(wait_state(vm, HAL_VM_STATE_RUNNING, S().wait)), "Running");
}

HAL_CLAUSE(LC_026, kLifecycle, MUST, "",
           "every optional lifecycle operation the backend declares works in a state that "
           "allows it (declaring a capability and answering UNSUPPORTED fails)") {
  Backend backend = S().open();
  Cleanup cleanup(backend);
  Vm vm = running_vm(backend, cleanup, "declared");
  auto check = [&](const char *entry, const std::function<void()> &fn) {
    if (!S().declares_operation(entry)) return;
    Outcome o = outcome_of(fn);
    EXPECT_EQ(o.status, HAL_OK) << entry << " is declared but answered " << o.str();
  };
  check("vm_get_console", [&] { (void)vm.console(); });
  check("vm_reboot", [&] { vm.reboot(); });
  wait_state(vm, HAL_VM_STATE_RUNNING, S().wait);
  check("vm_reset", [&] { vm.reset(); });
  wait_state(vm, HAL_VM_STATE_RUNNING, S().wait);
  check("vm_pause", [&] { vm.pause(); });
  if (S().declares_operation("vm_pause")) wait_state(vm, HAL_VM_STATE_PAUSED, S().wait);
  check("vm_resume", [&] { vm.resume(); });
  wait_state(vm, HAL_VM_STATE_RUNNING, S().wait);
  // Only "not UNSUPPORTED" matters here; a short timeout force-stops a guest still booting.
  check("vm_shutdown", [&] { vm.shutdown(std::chrono::milliseconds(1000)); });
}

HAL_CLAUSE(LC_027, kLifecycle, MUST, "",
           "open with a malformed configuration answers INVALID_ARGUMENT and no backend") {
  const auto &t = traced_table();
  for (const char *config : {"{\"instance\": ", "[1]", "42"}) {
    ErrorBuffer err;
    hal_backend *b = nullptr;
    hal_status st = t.open(config, nullptr, nullptr, 0, &b, err.get());
    EXPECT_EQ(status_name(st), "INVALID_ARGUMENT") << "open(" << config << ")";
    if (b != nullptr) {
      ADD_FAILURE() << "open(" << config << ") returned a backend";
      t.close(b, 0, err.get());
    }
  }
}

HAL_CLAUSE(LC_028, kLifecycle, MUST, "",
           "close while VM handles are unreleased answers FAILED_PRECONDITION and the backend "
           "stays usable") {
  const auto &t = traced_table();
  ErrorBuffer err;
  hal_backend *b = nullptr;
  std::string config = S().config.dump();
  ASSERT_EQ(t.open(config.c_str(), nullptr, nullptr, 0, &b, err.get()), HAL_OK) << err.message();
  std::string name = S().vm_name("close");
  std::string spec = S().spec(name).dump();
  hal_vm *vm = nullptr;
  ASSERT_EQ(t.vm_create(b, spec.c_str(), 0, &vm, err.get()), HAL_OK) << err.message();
  EXPECT_EQ(status_name(t.close(b, 0, err.get())), "FAILED_PRECONDITION");
  hal_vm_state state = 0;
  EXPECT_EQ(t.vm_get_state(vm, 0, &state, err.get()), HAL_OK) << err.message();
  t.vm_delete(vm, 0, err.get());
  t.vm_release(vm);
  EXPECT_EQ(t.close(b, 0, err.get()), HAL_OK) << err.message();
}

HAL_CLAUSE(LC_029, kLifecycle, MUST, "",
           "state-change events arrive in order: the states reported for a VM taken through "
           "start, (pause, resume,) force stop follow that order with non-decreasing "
           "timestamps") {
  Backend backend = S().open();
  EventLog log(backend);
  Cleanup cleanup(backend);
  Vm vm = running_vm(backend, cleanup, "order");
  std::vector<std::string> want = {"Running"};
  if (S().plugin->has("vm_pause") && S().plugin->has("vm_resume")) {
    vm.pause();
    vm.resume();
    want.push_back("Paused");
    want.push_back("Running");
  }
  vm.force_stop();
  want.push_back("Stopped");
  ASSERT_TRUE(log.wait_state_event(vm.id(), HAL_VM_STATE_STOPPED, S().wait))
      << log.describe(vm.id());
  std::vector<std::string> got;
  uint64_t last_ts = 0;
  for (const auto &e : log.events(vm.id())) {
    if (e.type != HAL_EVENT_STATE_CHANGED) continue;
    EXPECT_GE(e.timestamp_ns, last_ts) << "timestamps go backwards";
    last_ts = e.timestamp_ns;
    std::string st = state_name(e.state);
    if (st == "Starting" || st == "ShuttingDown") continue;  // intermediate states are optional
    got.push_back(st);
  }
  EXPECT_EQ(got, want) << log.describe(vm.id());
}

HAL_CLAUSE(LC_030, kLifecycle, SHOULD, "",
           "error messages name the problem: NOT_FOUND from vm_lookup names the id") {
  RawBackend raw(S().config);
  ASSERT_NE(raw.get(), nullptr);
  std::string id = S().vm_name("msg");
  ErrorBuffer err;
  hal_vm *vm = nullptr;
  hal_status st = raw.table().vm_lookup(raw.get(), id.c_str(), 0, &vm, err.get());
  EXPECT_EQ(status_name(st), "NOT_FOUND");
  EXPECT_NE(std::string(err.message()).find(id), std::string::npos)
      << "message \"" << err.message() << "\" does not name " << id;
}

HAL_CLAUSE(LC_031, kLifecycle, SHOULD, "",
           "vm_delete reports a VM_DELETED event with the VM's id and its last state, after "
           "which the VM sends no more events") {
  Backend backend = S().open();
  EventLog log(backend);
  Cleanup cleanup(backend);
  Vm vm = running_vm(backend, cleanup, "deleted-event");
  vm.force_stop();
  vm.delete_vm();
  auto deleted = [&](const Event &e) {
    return e.vm_id == vm.id() && e.type == HAL_EVENT_VM_DELETED;
  };
  ASSERT_TRUE(log.wait_for(deleted, S().wait))
      << "no VM_DELETED event; got " << log.describe(vm.id());
  sleep_ms(200);
  backend.drain_events();
  const std::vector<Event> events = log.events(vm.id());
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().type, static_cast<hal_event_type>(HAL_EVENT_VM_DELETED))
      << "events after VM_DELETED: " << log.describe(vm.id());
  EXPECT_EQ(state_name(events.back().state), "Stopped") << log.describe(vm.id());
}

HAL_CLAUSE(LC_032, kLifecycle, MUST, "",
           "the flag pairs hal.h makes exclusive answer INVALID_ARGUMENT and have no effect: "
           "vm_create with VALIDATE_ONLY and START defines and starts nothing; close with "
           "KEEP_VMS and STOP_VMS leaves the backend open and its VMs running") {
  const auto &t = traced_table();
  ErrorBuffer err;
  const std::string config = S().config.dump();
  hal_backend *b = nullptr;
  ASSERT_EQ(t.open(config.c_str(), nullptr, nullptr, 0, &b, err.get()), HAL_OK) << err.message();
  const std::string name = S().vm_name("exclusive");
  const std::string spec = S().spec(name).dump();
  hal_vm *vm = nullptr;
  EXPECT_EQ(status_name(t.vm_create(b, spec.c_str(), HAL_CREATE_VALIDATE_ONLY | HAL_CREATE_START,
                                    &vm, err.get())),
            "INVALID_ARGUMENT")
      << "vm_create(VALIDATE_ONLY | START): " << err.message();
  if (vm != nullptr) t.vm_release(vm);
  vm = nullptr;
  EXPECT_EQ(t.vm_lookup(b, name.c_str(), 0, &vm, err.get()), HAL_NOT_FOUND)
      << "vm_create(VALIDATE_ONLY | START) defined " << name;
  if (vm != nullptr) {
    t.vm_force_stop(vm, 0, err.get());
    t.vm_delete(vm, 0, err.get());
    t.vm_release(vm);
  }
  vm = nullptr;
  ASSERT_EQ(t.vm_create(b, spec.c_str(), HAL_CREATE_START, &vm, err.get()), HAL_OK)
      << err.message();
  t.vm_release(vm);
  vm = nullptr;
  const hal_status closed = t.close(b, HAL_CLOSE_KEEP_VMS | HAL_CLOSE_STOP_VMS, err.get());
  EXPECT_EQ(status_name(closed), "INVALID_ARGUMENT")
      << "close(KEEP_VMS | STOP_VMS): " << err.message();
  if (closed == HAL_OK) {
    // The backend is gone: a new instance re-adopts the VM to see what the close did to it.
    b = nullptr;
    ASSERT_EQ(t.open(config.c_str(), nullptr, nullptr, 0, &b, err.get()), HAL_OK) << err.message();
  }
  hal_vm_state state = 0;
  ASSERT_EQ(t.vm_lookup(b, name.c_str(), 0, &vm, err.get()), HAL_OK)
      << "after close(KEEP_VMS | STOP_VMS): " << err.message();
  EXPECT_EQ(t.vm_get_state(vm, 0, &state, err.get()), HAL_OK) << err.message();
  EXPECT_EQ(state_name(state), "Running") << "close(KEEP_VMS | STOP_VMS) changed the VM";
  t.vm_force_stop(vm, 0, err.get());
  t.vm_delete(vm, 0, err.get());
  t.vm_release(vm);
  EXPECT_EQ(t.close(b, 0, err.get()), HAL_OK) << err.message();
}

}  // namespace hal::conformance

namespace hal::conformance {
namespace {

HAL_CLAUSE(LC_033, kLifecycle, MUST, "",
           "the handle of a deleted VM stays dead when the name is reused: every call through it "
           "answers NOT_FOUND and leaves the new VM of that name untouched") {
  Backend backend = S().open();
  EventLog log(backend);
  Cleanup cleanup(backend);
  Vm old = create_vm(backend, cleanup, "reuse");
  old.delete_vm();
  Vm fresh = backend.create(S().spec(old.id()));  // the same name; `old` is not released
  EXPECT_STATUS(HAL_NOT_FOUND, old.start(), "vm_start through the deleted VM's handle");
  EXPECT_EQ(state_name(fresh.state()), "Stopped") << "the old handle started the new VM";
  fresh.start();
  ASSERT_EQ(state_name(wait_state(fresh, HAL_VM_STATE_RUNNING, S().wait)), "Running");
  EXPECT_STATUS(HAL_NOT_FOUND, old.force_stop(), "vm_force_stop through the deleted VM's handle");
  EXPECT_STATUS(HAL_NOT_FOUND, old.state(), "vm_get_state through the deleted VM's handle");
  EXPECT_STATUS(HAL_NOT_FOUND, old.delete_vm(), "vm_delete through the deleted VM's handle");
  EXPECT_EQ(state_name(fresh.state()), "Running") << "the old handle stopped the new VM";
  EXPECT_TRUE(list_has(backend.list(), fresh.id())) << backend.list().dump();
}

// Calls the plugin's negotiate entry with `offered`, answering the status and the table.
hal_status negotiate(uint32_t offered, uint32_t flags, const hal_backend_table **table,
                     std::string *message) {
  ErrorBuffer err;
  hal_status status = guarded_call(HAL_PLUGIN_ENTRY_SYMBOL, err.get(), [&] {
    return S().plugin->negotiate_entry()(offered, flags, table, err.get());
  });
  *message = err.message();
  return status;
}

HAL_CLAUSE(LC_034, kLifecycle, MUST, "",
           "hal_plugin_negotiate keeps hal.h's rules: an offered 1.0 gets a 1.0 table of at least "
           "the v1.0 size, a newer minor gets major 1, another major is refused with "
           "FAILED_PRECONDITION and a message, unknown flags and a NULL out_table with "
           "INVALID_ARGUMENT") {
  const hal_backend_table *table = nullptr;
  std::string message;
  ASSERT_EQ(status_name(negotiate(HAL_MAKE_VERSION(1, 0), 0, &table, &message)), "OK") << message;
  ASSERT_NE(table, nullptr);
  EXPECT_EQ(version_string(table->abi_version), "1.0") << "offered 1.0";
  EXPECT_GE(table->struct_size, HAL_BACKEND_TABLE_V1_0_SIZE);

  table = nullptr;
  ASSERT_EQ(status_name(negotiate(HAL_MAKE_VERSION(1, 99), 0, &table, &message)), "OK") << message;
  ASSERT_NE(table, nullptr);
  EXPECT_EQ(HAL_VERSION_MAJOR(table->abi_version), 1u) << "offered 1.99";
  EXPECT_LE(HAL_VERSION_MINOR(table->abi_version), 99u);

  for (uint32_t major : {0u, 2u}) {
    table = nullptr;
    const hal_status refused = negotiate(HAL_MAKE_VERSION(major, 0), 0, &table, &message);
    EXPECT_EQ(status_name(refused), "FAILED_PRECONDITION") << "offered " << major << ".0";
    EXPECT_FALSE(message.empty()) << "offered " << major << ".0: the refusal names no versions";
    EXPECT_EQ(table, nullptr) << "offered " << major << ".0: a table came with the refusal";
  }
  EXPECT_EQ(status_name(negotiate(HAL_ABI_VERSION, 0x80000000u, &table, &message)),
            "INVALID_ARGUMENT")
      << "an unknown flag";
  EXPECT_EQ(status_name(negotiate(HAL_ABI_VERSION, 0, nullptr, &message)), "INVALID_ARGUMENT")
      << "a NULL out_table";
  // Back to what the host negotiated for the rest of this process.
  ASSERT_EQ(status_name(negotiate(S().plugin->offered_version(), 0, &table, &message)), "OK");
}

}  // namespace
}  // namespace hal::conformance
