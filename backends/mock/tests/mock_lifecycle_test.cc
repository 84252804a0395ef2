// mock_lifecycle_test.cc - the mock through its real C ABI (hal::Plugin + hal_plugin_negotiate):
// negotiation, config errors, capabilities, the lifecycle state machine, events, flags,
// NUMA/TDX checks, faults, re-adoption and concurrency.
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>

#include "core/spec/vm_spec_validation.h"
#include "hal/names.h"
#include "mock_harness.h"

namespace hal::mock::test {
namespace {

using ::testing::HasSubstr;

json Config(const json &extra = json::object()) {
  json config = {{"instance", Instance()}};
  config.merge_patch(extra);
  return config;
}

TEST(MockNegotiate, RefusesOtherMajorsAndAnswersMinMinor) {
  auto negotiate = [](uint32_t offered, uint32_t flags, const hal_backend_table **out,
                      hal_error *error) {
    return MockPlugin().negotiate(offered, flags, out, error);
  };
  const hal_backend_table *table = nullptr;
  hal_error error = Err();
  EXPECT_EQ(negotiate(HAL_MAKE_VERSION(2, 0), 0, &table, &error), HAL_FAILED_PRECONDITION);
  EXPECT_EQ(table, nullptr);
  EXPECT_THAT(error.message, HasSubstr("1.0 to 1.1"));
  EXPECT_THAT(error.message, HasSubstr("2.0"));
  EXPECT_EQ(negotiate(HAL_MAKE_VERSION(1, 0), 0, &table, &error), HAL_OK);
  EXPECT_EQ(table->abi_version, HAL_MAKE_VERSION(1, 0));
  EXPECT_EQ(table->struct_size, HAL_BACKEND_TABLE_V1_0_SIZE);
  EXPECT_EQ(negotiate(HAL_MAKE_VERSION(1, 7), 0, &table, &error), HAL_OK);
  EXPECT_EQ(table->abi_version, HAL_MAKE_VERSION(1, 1));
  EXPECT_EQ(table->struct_size, sizeof(hal_backend_table));
  EXPECT_NE(table->vm_pause, nullptr);
  EXPECT_NE(table->migration_send, nullptr);
  EXPECT_EQ(table->vm_get_console, nullptr);  // not implemented -> NULL
  EXPECT_EQ(table->vm_snapshot, nullptr);
  EXPECT_EQ(negotiate(HAL_ABI_VERSION, 1, &table, &error), HAL_INVALID_ARGUMENT);
  EXPECT_EQ(negotiate(HAL_ABI_VERSION, 0, nullptr, &error), HAL_INVALID_ARGUMENT);
}

TEST(MockBackend, IdentityCapabilitiesAndHostInfo) {
  char *out = nullptr;
  hal_error error = Err();
  ASSERT_EQ(T().get_identity(0, &out, &error), HAL_OK);
  EXPECT_EQ(json::parse(Take(out))["name"], "mock");
  Backend be(Config({{"tdx", true}}));
  ASSERT_EQ(be.status, HAL_OK) << be.message;
  ASSERT_EQ(T().get_capabilities(be.b, 0, &out, &error), HAL_OK);
  json caps = json::parse(Take(out));
  EXPECT_EQ(caps["abiVersion"], "1.1");
  EXPECT_EQ(caps["operations"]["vm_pause"], true);
  EXPECT_EQ(caps["operations"]["vm_create"], true);
  EXPECT_EQ(caps["operations"]["vm_get_console"], false);
  EXPECT_EQ(caps["operations"]["vm_snapshot"], false);
  EXPECT_EQ(caps["operations"]["migration_send"], true);
  EXPECT_EQ(caps["limits"]["maxMemoryBytes"], 16ull << 40);
  EXPECT_EQ(caps["features"]["tdx"], true);
  EXPECT_EQ(caps["limits"]["maxVcpus"], 512);
  ASSERT_EQ(T().get_host_info(be.b, 0, &out, &error), HAL_OK);
  json host = json::parse(Take(out));
  EXPECT_EQ(host["numaNodes"].size(), 2u);
  EXPECT_EQ(host["numaNodes"][1]["memory"], 16ull << 30);
  EXPECT_EQ(host["memory"], 32ull << 30);
  EXPECT_EQ(host["cpus"], 8);
  EXPECT_EQ(host["tdx"]["supported"], true);
  EXPECT_EQ(host["accelerator"], "none");
  EXPECT_EQ(T().get_capabilities(be.b, 4, &out, &error), HAL_INVALID_ARGUMENT);
  EXPECT_EQ(out, nullptr);
}

TEST(MockBackend, BadConfigNamesTheKey) {
  struct Case {
    std::string config;
    std::string expect;
  } cases[] = {{"{nope", "malformed"},
               {R"({"bogus":1})", "config.bogus"},
               {R"({"tdx":"yes"})", "config.tdx"},
               {R"({"faults":{"crashAfterMs":-1}})", "config.faults.crashAfterMs"},
               {R"({"faults":{"migration":"explode"}})", "config.faults.migration"},
               {R"({"faults":{"weird":true}})", "config.faults.weird"},
               {R"({"host":{"numaNodes":[{"id":0}]}})", "config.host.numaNodes[0].cpus"},
               {R"({"migration":{"bandwidthMiBps":0}})", "config.migration.bandwidthMiBps"},
               {"[1]", "must be an object"}};
  for (const auto &c : cases) {
    hal_backend *b = nullptr;
    hal_error error = Err();
    EXPECT_EQ(T().open(c.config.c_str(), nullptr, nullptr, 0, &b, &error), HAL_INVALID_ARGUMENT)
        << c.config;
    EXPECT_EQ(b, nullptr);
    EXPECT_THAT(error.message, HasSubstr(c.expect)) << c.config;
  }
  hal_backend *b = nullptr;
  hal_error error = Err();
  EXPECT_EQ(T().open(nullptr, nullptr, nullptr, 1, &b, &error), HAL_INVALID_ARGUMENT);
  EXPECT_EQ(T().open(nullptr, nullptr, nullptr, 0, nullptr, &error), HAL_INVALID_ARGUMENT);
  ASSERT_EQ(T().open(nullptr, nullptr, nullptr, 0, &b, &error), HAL_OK);  // NULL = defaults
  EXPECT_EQ(T().close(b, HAL_CLOSE_KEEP_VMS | HAL_CLOSE_STOP_VMS, &error), HAL_INVALID_ARGUMENT);
  EXPECT_EQ(T().close(b, 0x80, &error), HAL_INVALID_ARGUMENT);
  EXPECT_EQ(T().close(b, 0, &error), HAL_OK);
}

TEST(MockLifecycle, StateMachineEventsAndIdempotency) {
  Backend be(Config());
  ASSERT_EQ(be.status, HAL_OK);
  Vm vm;
  ASSERT_EQ(Create(be.b, Spec("vm1"), vm).status, HAL_OK);
  EXPECT_EQ(vm.State(), HAL_VM_STATE_STOPPED);
  EXPECT_EQ(Call(T().vm_pause, vm).status, HAL_FAILED_PRECONDITION);
  EXPECT_EQ(Call(T().vm_resume, vm).status, HAL_FAILED_PRECONDITION);
  EXPECT_EQ(Call(T().vm_reboot, vm).status, HAL_FAILED_PRECONDITION);
  EXPECT_EQ(Call(T().vm_reset, vm).status, HAL_FAILED_PRECONDITION);
  EXPECT_EQ(Call(T().migration_cancel, vm).status, HAL_FAILED_PRECONDITION);
  hal_error error = Err();
  EXPECT_EQ(T().vm_shutdown(vm.get(), 100, 0, &error), HAL_OK);  // already stopped
  EXPECT_EQ(Call(T().vm_force_stop, vm).status, HAL_OK);         // already stopped

  ASSERT_EQ(Call(T().vm_start, vm).status, HAL_OK);
  EXPECT_EQ(vm.State(), HAL_VM_STATE_RUNNING);
  EXPECT_EQ(Call(T().vm_start, vm).status, HAL_OK);  // idempotent, no event
  EXPECT_EQ(be.events.states("vm1"),
            (std::vector<hal_vm_state>{HAL_VM_STATE_STARTING, HAL_VM_STATE_RUNNING}));
  Result del = Call(T().vm_delete, vm);
  EXPECT_EQ(del.status, HAL_FAILED_PRECONDITION);
  EXPECT_THAT(del.message, HasSubstr("Running"));

  ASSERT_EQ(Call(T().vm_pause, vm).status, HAL_OK);
  EXPECT_EQ(Call(T().vm_pause, vm).status, HAL_OK);
  EXPECT_EQ(vm.State(), HAL_VM_STATE_PAUSED);
  EXPECT_EQ(Call(T().vm_start, vm).status, HAL_FAILED_PRECONDITION);
  EXPECT_EQ(Call(T().vm_reboot, vm).status, HAL_FAILED_PRECONDITION);
  ASSERT_EQ(Call(T().vm_reset, vm).status, HAL_OK);  // reset allowed while paused
  EXPECT_EQ(vm.State(), HAL_VM_STATE_PAUSED);
  ASSERT_EQ(Call(T().vm_resume, vm).status, HAL_OK);
  EXPECT_EQ(Call(T().vm_resume, vm).status, HAL_OK);
  ASSERT_EQ(Call(T().vm_reboot, vm).status, HAL_OK);
  EXPECT_EQ(vm.Info()["guest"]["bootCount"], 3);
  ASSERT_EQ(Call(T().vm_force_stop, vm).status, HAL_OK);
  EXPECT_EQ(vm.State(), HAL_VM_STATE_STOPPED);

  EXPECT_EQ(
      be.events.states("vm1"),
      (std::vector<hal_vm_state>{HAL_VM_STATE_STARTING, HAL_VM_STATE_RUNNING, HAL_VM_STATE_PAUSED,
                                 HAL_VM_STATE_RUNNING, HAL_VM_STATE_STOPPED}));
  int reboots = 0;
  for (const auto &e : be.events.events()) reboots += e.type == HAL_EVENT_GUEST_REBOOTED;
  EXPECT_EQ(reboots, 2);

  ASSERT_EQ(Call(T().vm_delete, vm).status, HAL_OK);
  hal_vm_state state;
  EXPECT_EQ(T().vm_get_state(vm.get(), 0, &state, &error), HAL_NOT_FOUND);
  Vm again;
  EXPECT_EQ(T().vm_lookup(be.b, "vm1", 0, again.out(), &error), HAL_NOT_FOUND);
  EXPECT_EQ(again.get(), nullptr);
}

TEST(MockLifecycle, HeartbeatGrowsWhileRunningFrozenWhilePaused) {
  Backend be(Config());
  Vm vm;
  ASSERT_EQ(Create(be.b, Spec("hb"), vm, HAL_CREATE_START).status, HAL_OK);
  EXPECT_EQ(vm.State(), HAL_VM_STATE_RUNNING);
  Sleep(60);
  int64_t h1 = vm.Info()["guest"]["heartbeat"];
  EXPECT_GT(h1, 0);
  ASSERT_EQ(Call(T().vm_pause, vm).status, HAL_OK);
  int64_t h2 = vm.Info()["guest"]["heartbeat"];
  Sleep(60);
  EXPECT_EQ(vm.Info()["guest"]["heartbeat"], h2);
  ASSERT_EQ(Call(T().vm_resume, vm).status, HAL_OK);
  Sleep(60);
  EXPECT_GT(vm.Info()["guest"]["heartbeat"].get<int64_t>(), h2);
  ASSERT_EQ(Call(T().vm_force_stop, vm).status, HAL_OK);

  Vm paused;
  ASSERT_EQ(Create(be.b, Spec("hb2"), paused).status, HAL_OK);
  ASSERT_EQ(Call(T().vm_start, paused, HAL_START_PAUSED).status, HAL_OK);
  EXPECT_EQ(paused.State(), HAL_VM_STATE_PAUSED);
  EXPECT_EQ(paused.Info()["guest"]["bootCount"], 1);
}

TEST(MockLifecycle, GracefulShutdown) {
  Backend be(Config());
  Vm vm;
  ASSERT_EQ(Create(be.b, Spec("sd"), vm, HAL_CREATE_START).status, HAL_OK);
  hal_error error = Err();
  ASSERT_EQ(T().vm_shutdown(vm.get(), 5000, 0, &error), HAL_OK) << error.message;
  EXPECT_EQ(vm.State(), HAL_VM_STATE_STOPPED);
  EXPECT_EQ(be.events.states("sd").back(), HAL_VM_STATE_STOPPED);
  EXPECT_EQ(be.events.events().back().detail["reason"], "guest powered off (ACPI)");

  // NO_FORCE with a timeout shorter than the guest needs: DEADLINE_EXCEEDED, then the guest,
  // which did see the request, powers off by itself.
  ASSERT_EQ(Call(T().vm_start, vm).status, HAL_OK);
  EXPECT_EQ(T().vm_shutdown(vm.get(), 1, HAL_SHUTDOWN_NO_FORCE, &error), HAL_DEADLINE_EXCEEDED);
  EXPECT_EQ(vm.State(), HAL_VM_STATE_SHUTTING_DOWN);
  for (int i = 0; i < 200 && vm.State() != HAL_VM_STATE_STOPPED; ++i) Sleep(5);
  EXPECT_EQ(vm.State(), HAL_VM_STATE_STOPPED);
}

TEST(MockLifecycle, ShutdownTimeoutWhenGuestIgnoresAcpi) {
  Backend be(Config({{"faults", {{"ignoreAcpi", true}}}}));
  Vm vm;
  ASSERT_EQ(Create(be.b, Spec("stubborn"), vm, HAL_CREATE_START).status, HAL_OK);
  hal_error error = Err();
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(T().vm_shutdown(vm.get(), 150, HAL_SHUTDOWN_NO_FORCE, &error), HAL_DEADLINE_EXCEEDED);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(150));
  EXPECT_THAT(error.message, HasSubstr("150 ms"));
  EXPECT_EQ(vm.State(), HAL_VM_STATE_SHUTTING_DOWN);
  EXPECT_EQ(Call(T().vm_start, vm).status, HAL_FAILED_PRECONDITION);
  EXPECT_EQ(T().vm_shutdown(vm.get(), 50, 0, &error), HAL_OK);  // forced after the timeout
  EXPECT_EQ(vm.State(), HAL_VM_STATE_STOPPED);
  EXPECT_EQ(be.events.states("stubborn"),
            (std::vector<hal_vm_state>{HAL_VM_STATE_STARTING, HAL_VM_STATE_RUNNING,
                                       HAL_VM_STATE_SHUTTING_DOWN, HAL_VM_STATE_STOPPED}));
}

TEST(MockLifecycle, UnknownFlagsAndNullPointers) {
  Backend be(Config());
  Vm vm;
  Result r = Create(be.b, Spec("flags"), vm, 0x4);
  EXPECT_EQ(r.status, HAL_INVALID_ARGUMENT);
  EXPECT_THAT(r.message, HasSubstr("flag"));
  ASSERT_EQ(Create(be.b, Spec("flags"), vm).status, HAL_OK);
  r = Call(T().vm_start, vm, 0x2);
  EXPECT_EQ(r.status, HAL_INVALID_ARGUMENT);
  EXPECT_THAT(r.message, HasSubstr("0x2"));
  EXPECT_EQ(Call(T().vm_force_stop, vm, 1).status, HAL_INVALID_ARGUMENT);
  EXPECT_EQ(Call(T().vm_pause, vm, 1).status, HAL_INVALID_ARGUMENT);
  EXPECT_EQ(Call(T().vm_delete, vm, 2).status, HAL_INVALID_ARGUMENT);
  hal_error error = Err();
  EXPECT_EQ(T().vm_shutdown(vm.get(), 10, 2, &error), HAL_INVALID_ARGUMENT);
  hal_vm_state state;
  EXPECT_EQ(T().vm_get_state(vm.get(), 1, &state, &error), HAL_INVALID_ARGUMENT);
  EXPECT_EQ(T().vm_get_state(vm.get(), 0, nullptr, &error), HAL_INVALID_ARGUMENT);
  EXPECT_EQ(T().vm_start(nullptr, 0, &error), HAL_INVALID_ARGUMENT);
  EXPECT_THAT(error.message, HasSubstr("NULL"));
  Vm none;
  EXPECT_EQ(T().vm_create(be.b, nullptr, 0, none.out(), &error), HAL_INVALID_ARGUMENT);
  EXPECT_EQ(none.get(), nullptr);
  EXPECT_EQ(T().vm_list(be.b, 0, nullptr, &error), HAL_INVALID_ARGUMENT);
  EXPECT_EQ(T().vm_start(nullptr, 0, nullptr), HAL_INVALID_ARGUMENT);  // NULL error is fine
  T().vm_release(nullptr);
  T().free_string(nullptr);
}

TEST(MockLifecycle, ErrorRespectsStructSize) {
  Backend be(Config());
  struct {
    hal_error error;
    char guard[8];
  } buffer;
  std::memset(&buffer, 'x', sizeof buffer);
  buffer.error.struct_size = 8 + 10;  // a caller whose message holds 10 bytes
  Vm vm;
  EXPECT_EQ(T().vm_create(be.b, "{bad", 0, vm.out(), &buffer.error), HAL_INVALID_ARGUMENT);
  EXPECT_EQ(std::strlen(buffer.error.message), 9u);
  EXPECT_EQ(buffer.error.message[10], 'x');
  hal_error tiny{4, 0, {}};
  EXPECT_EQ(T().vm_create(be.b, "{bad", 0, vm.out(), &tiny), HAL_INVALID_ARGUMENT);
  EXPECT_EQ(tiny.message[0], '\0');
}

TEST(MockLifecycle, SpecErrors) {
  Backend be(Config());
  Vm vm;
  Result r = Create(be.b, json("not an object"), vm);
  EXPECT_EQ(r.status, HAL_INVALID_ARGUMENT);
  hal_error error = Err();
  EXPECT_EQ(T().vm_create(be.b, "{\"name\":", 0, vm.out(), &error), HAL_INVALID_ARGUMENT);
  EXPECT_THAT(error.message, HasSubstr("malformed JSON"));
  json no_memory = Spec("x");
  no_memory.erase("memory");
  r = Create(be.b, no_memory, vm);
  EXPECT_EQ(r.status, HAL_INVALID_ARGUMENT);
  EXPECT_THAT(r.message, HasSubstr("spec.memory.size"));
  r = Create(be.b, Spec("big", {{"cpu", {{"vcpus", 600}}}}), vm);
  EXPECT_EQ(r.status, HAL_OUT_OF_RANGE);
  ASSERT_EQ(Create(be.b, Spec("dup"), vm).status, HAL_OK);
  Vm other;
  EXPECT_EQ(Create(be.b, Spec("dup"), other).status, HAL_ALREADY_EXISTS);
  EXPECT_EQ(Create(be.b, Spec("check"), other, HAL_CREATE_VALIDATE_ONLY).status, HAL_OK);
  EXPECT_EQ(other.get(), nullptr);
  EXPECT_EQ(T().vm_lookup(be.b, "check", 0, other.out(), &error), HAL_NOT_FOUND);
}

TEST(MockLifecycle, NumaPinningAndDevicesAreCheckedAgainstTheHost) {
  Backend be(Config());
  Vm vm;
  Result r = Create(
      be.b,
      Spec("n1", {{"numa",
                   {{"nodes",
                     {{{"id", 0}, {"vcpus", {0, 1}}, {"memory", "256Mi"}, {"hostNodes", {5}}}}}}}}),
      vm);
  EXPECT_EQ(r.status, HAL_INVALID_ARGUMENT);
  EXPECT_THAT(r.message, HasSubstr("spec.numa.nodes[0].hostNodes[0]"));
  r = Create(be.b, Spec("n2", {{"cpu", {{"pinning", {{{"vcpu", 0}, {"hostCpus", {99}}}}}}}}), vm);
  EXPECT_EQ(r.status, HAL_INVALID_ARGUMENT);
  EXPECT_THAT(r.message, HasSubstr("spec.cpu.pinning[0].hostCpus[0]"));
  r = Create(be.b,
             Spec("n3", {{"hostDevices",
                          {{{"name", "gpu"}, {"type", "pci"}, {"pciAddress", "0000:99:00.0"}}}}}),
             vm);
  EXPECT_EQ(r.status, HAL_INVALID_ARGUMENT);
  EXPECT_THAT(r.message, HasSubstr("spec.hostDevices[0].pciAddress"));

  json good = Spec(
      "numa-ok",
      {{"cpu", {{"vcpus", 2}, {"pinning", {{{"vcpu", 0}, {"hostCpus", {4}}}}}}},
       {"numa",
        {{"nodes",
          {{{"id", 0}, {"vcpus", {0}}, {"memory", "128Mi"}, {"hostNodes", {0}}, {"policy", "bind"}},
           {{"id", 1},
            {"vcpus", {1}},
            {"memory", "128Mi"},
            {"hostNodes", {1}},
            {"policy", "preferred"}}}}}},
       {"hostDevices",
        {{{"name", "gpu0"},
          {"type", "pci"},
          {"pciAddress", "0000:3b:00.0"},
          {"guestNumaNode", 0}}}}});
  ASSERT_EQ(Create(be.b, good, vm).status, HAL_OK);
  json info = vm.Info();
  EXPECT_EQ(info["vcpuThreads"][0]["affinity"], json({4}));
  // The info document is what vm-info.schema.json promises.
  EXPECT_EQ(hal::format_errors(hal::validate_document("vm-info", info, "info")), "");
  EXPECT_EQ(info["hostDevices"][0]["hostNumaNode"], 0);
  EXPECT_EQ(info["numaPlacement"][1], json({{"guestNode", 1},
                                            {"hostNodes", {1}},
                                            {"policy", "preferred"},
                                            {"memory", 128ull << 20}}));
  EXPECT_EQ(info["vcpuThreads"][0], json({{"vcpu", 0}, {"affinity", {4}}}));

  // A device without guestNumaNode lands on the guest node bound to its host node.
  json placed = good;
  placed["name"] = "placed";
  placed["hostDevices"] = {
      {{"name", "nic"}, {"type", "emulated"}, {"model", "e1000e"}, {"hostNumaNode", 1}}};
  Vm p;
  ASSERT_EQ(Create(be.b, placed, p).status, HAL_OK);
  EXPECT_EQ(p.Info()["hostDevices"][0]["guestNumaNode"], 1);
  placed["name"] = "ghost";
  placed["hostDevices"][0]["hostNumaNode"] = 7;
  EXPECT_EQ(Create(be.b, placed, p).status, HAL_INVALID_ARGUMENT);
  EXPECT_EQ(info["launchSecurity"]["type"], "none");
  EXPECT_EQ(info["state"], "Stopped");

  // A configured host override changes what exists.
  Backend small(Config(
      {{"instance", Instance("-small")}, {"host", {{"numaNodes", {{{"id", 0}, {"cpus", {0}}}}}}}}));
  ASSERT_EQ(small.status, HAL_OK) << small.message;
  Vm s;
  r = Create(small.b, Spec("p", {{"cpu", {{"pinning", {{{"vcpu", 0}, {"hostCpus", {1}}}}}}}}), s);
  EXPECT_EQ(r.status, HAL_INVALID_ARGUMENT);
}

TEST(MockLifecycle, TdxUnsupportedUnlessConfigured) {
  json tdx = {{"launchSecurity", {{"type", "tdx"}, {"tdx", {{"attributes", "0x10000000"}}}}}};
  Backend plain(Config());
  Backend capable(Config({{"instance", Instance("-tdx")}, {"tdx", true}}));
  Vm vm;  // handles after backends: released before the backends close
  Result r = Create(plain.b, Spec("td", tdx), vm);
  EXPECT_EQ(r.status, HAL_UNSUPPORTED);
  EXPECT_EQ(r.message, "TDX: host does not support TDX (mock configured with tdx=false)");

  ASSERT_EQ(Create(capable.b, Spec("td", tdx), vm, HAL_CREATE_START).status, HAL_OK);
  EXPECT_EQ(vm.Info()["launchSecurity"]["type"], "tdx");
  hal_error error = Err();
  EXPECT_EQ(T().migration_send(vm.get(), R"({"uri":"tcp:127.0.0.1:1"})", 0, &error),
            HAL_UNSUPPORTED);
  EXPECT_THAT(error.message, HasSubstr("TDX"));
  Vm incoming;
  char *endpoint = nullptr;
  EXPECT_EQ(T().migration_prepare_incoming(capable.b, Spec("td2", tdx).dump().c_str(), nullptr, 0,
                                           incoming.out(), &endpoint, &error),
            HAL_UNSUPPORTED);
  EXPECT_EQ(endpoint, nullptr);
  EXPECT_EQ(incoming.get(), nullptr);
}

TEST(MockFaults, FailStartByNameAndCount) {
  Backend be(Config({{"faults", {{"failStart", {"doomed"}}, {"failStartCount", 1}}}}));
  Vm doomed, once;
  ASSERT_EQ(Create(be.b, Spec("doomed"), doomed).status, HAL_OK);
  ASSERT_EQ(Create(be.b, Spec("once"), once).status, HAL_OK);
  Result r = Call(T().vm_start, doomed);
  EXPECT_EQ(r.status, HAL_UNAVAILABLE);
  EXPECT_THAT(r.message, HasSubstr("doomed"));
  EXPECT_EQ(doomed.State(), HAL_VM_STATE_CRASHED);
  EXPECT_EQ(Call(T().vm_start, doomed).status, HAL_UNAVAILABLE);
  EXPECT_EQ(Call(T().vm_start, once).status, HAL_UNAVAILABLE);  // the count
  EXPECT_EQ(Call(T().vm_start, once).status, HAL_OK);           // from CRASHED
  EXPECT_EQ(once.State(), HAL_VM_STATE_RUNNING);
  EXPECT_EQ(Call(T().vm_delete, doomed).status, HAL_OK);  // CRASHED may be deleted
}

TEST(MockFaults, CrashAfterMsSendsCrashEvent) {
  Backend be(Config({{"faults", {{"crashAfterMs", 50}}}}));
  Vm vm;
  ASSERT_EQ(Create(be.b, Spec("crashy"), vm, HAL_CREATE_START).status, HAL_OK);
  ASSERT_TRUE(be.events.wait_until(
      [](const auto &events) {
        return !events.empty() && events.back().type == HAL_EVENT_STATE_CHANGED &&
               events.back().state == HAL_VM_STATE_CRASHED;
      },
      std::chrono::milliseconds(5000)));
  EXPECT_EQ(vm.State(), HAL_VM_STATE_CRASHED);
  auto all = be.events.events();
  EXPECT_EQ(all[all.size() - 2].type, HAL_EVENT_GUEST_CRASHED);
  EXPECT_EQ(all.back().state, HAL_VM_STATE_CRASHED);
  EXPECT_EQ(Call(T().vm_start, vm).status, HAL_OK);
  EXPECT_EQ(vm.Info()["guest"]["bootCount"], 2);
  ASSERT_EQ(Call(T().vm_force_stop, vm).status, HAL_OK);
}

TEST(MockFaults, SlowCalls) {
  Backend be(Config({{"faults", {{"slowCallsMs", 40}}}}));
  Vm vm;
  ASSERT_EQ(Create(be.b, Spec("slow"), vm).status, HAL_OK);
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(Call(T().vm_start, vm).status, HAL_OK);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(40));
}

TEST(MockBackend, CloseRefusesWithHandlesAndNoEventsAfterClose) {
  Backend be(Config({{"faults", {{"crashAfterMs", 80}}}}));
  {
    Vm vm;
    ASSERT_EQ(Create(be.b, Spec("late"), vm, HAL_CREATE_START).status, HAL_OK);
    EXPECT_EQ(be.Close(), HAL_FAILED_PRECONDITION);
    EXPECT_THAT(be.message, HasSubstr("unreleased"));
  }
  size_t before = be.events.events().size();
  ASSERT_EQ(be.Close(HAL_CLOSE_KEEP_VMS), HAL_OK);
  Sleep(150);  // the crash timer would have fired by now
  EXPECT_EQ(be.events.events().size(), before);
}

TEST(MockBackend, CloseStopVmsStopsThem) {
  json config = Config();
  {
    Backend be(config);
    Vm vm;
    ASSERT_EQ(Create(be.b, Spec("stopme"), vm, HAL_CREATE_START).status, HAL_OK);
    vm = Vm();
    ASSERT_EQ(be.Close(HAL_CLOSE_STOP_VMS), HAL_OK);
    EXPECT_EQ(be.events.states("stopme").back(), HAL_VM_STATE_STOPPED);
  }
}

TEST(MockReadoption, InMemoryInstanceSurvivesCloseAndReopen) {
  json config = Config();
  {
    Backend be(config);
    Vm vm;
    ASSERT_EQ(Create(be.b, Spec("keep"), vm, HAL_CREATE_START).status, HAL_OK);
  }
  Backend again(config);
  char *out = nullptr;
  hal_error error = Err();
  ASSERT_EQ(T().vm_list(again.b, 0, &out, &error), HAL_OK);
  json list = json::parse(Take(out));
  ASSERT_EQ(list["vms"].size(), 1u);
  EXPECT_EQ(list["vms"][0]["id"], "keep");
  EXPECT_EQ(list["vms"][0]["state"], "Running");
}

TEST(MockReadoption, ReadoptedGuestKeepsItsCrashFault) {
  json config = Config({{"faults", {{"crashAfterMs", 300}}}});
  {
    Backend be(config);
    Vm running, stopped;
    ASSERT_EQ(Create(be.b, Spec("fragile"), running, HAL_CREATE_START).status, HAL_OK);
    ASSERT_EQ(Create(be.b, Spec("idle"), stopped).status, HAL_OK);
    running = Vm();
    stopped = Vm();
    ASSERT_EQ(be.Close(HAL_CLOSE_KEEP_VMS), HAL_OK);  // its timer goes with it
  }
  Backend again(config);
  ASSERT_TRUE(again.events.wait_until(
      [](const auto &events) {
        return !events.empty() && events.back().state == HAL_VM_STATE_CRASHED;
      },
      std::chrono::milliseconds(5000)))
      << "the re-adopted guest never crashed";
  EXPECT_EQ(again.events.states("fragile"), std::vector<hal_vm_state>{HAL_VM_STATE_CRASHED});
  EXPECT_TRUE(again.events.states("idle").empty());  // a stopped guest has no crash to come
  Sleep(400);
  EXPECT_EQ(again.events.events().size(), 2u);  // GUEST_CRASHED + STATE_CHANGED, once
}

TEST(MockReadoption, StateDirPersistsVms) {
  auto dir =
      std::filesystem::temp_directory_path() / ("hal-mock-state-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  json config = {{"stateDir", dir.string()}};
  int64_t heartbeat = 0;
  {
    Backend be(config);
    ASSERT_EQ(be.status, HAL_OK) << be.message;
    Vm a, b;
    ASSERT_EQ(Create(be.b, Spec("alpha"), a, HAL_CREATE_START).status, HAL_OK);
    ASSERT_EQ(Call(T().vm_reboot, a).status, HAL_OK);
    ASSERT_EQ(Create(be.b, Spec("beta"), b).status, HAL_OK);
    Sleep(30);
    heartbeat = a.Info()["guest"]["heartbeat"];
  }
  EXPECT_TRUE(std::filesystem::exists(dir / "vms.journal"));
  {
    Backend be(config);  // nothing else holds the directory: re-read from disk
    char *out = nullptr;
    hal_error error = Err();
    ASSERT_EQ(T().vm_list(be.b, 0, &out, &error), HAL_OK);
    json list = json::parse(Take(out));
    ASSERT_EQ(list["vms"].size(), 2u);
    Vm a;
    ASSERT_EQ(T().vm_lookup(be.b, "alpha", 0, a.out(), &error), HAL_OK);
    EXPECT_EQ(a.State(), HAL_VM_STATE_RUNNING);
    json info = a.Info();
    EXPECT_EQ(info["guest"]["bootCount"], 2);
    EXPECT_GE(info["guest"]["heartbeat"].get<int64_t>(), heartbeat);
    ASSERT_EQ(Call(T().vm_force_stop, a).status, HAL_OK);
    ASSERT_EQ(Call(T().vm_delete, a).status, HAL_OK);
  }
  {
    Backend be(config);  // the deletion was journalled too
    Vm a;
    hal_error error = Err();
    EXPECT_EQ(T().vm_lookup(be.b, "alpha", 0, a.out(), &error), HAL_NOT_FOUND);
  }
  std::filesystem::remove_all(dir);
}

TEST(MockReadoption, TornLastJournalLineLosesOnlyThatWrite) {
  auto dir =
      std::filesystem::temp_directory_path() / ("hal-mock-torn-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  json config = {{"stateDir", dir.string()}};
  {
    Backend be(config);
    ASSERT_EQ(be.status, HAL_OK) << be.message;
    Vm a, b;
    ASSERT_EQ(Create(be.b, Spec("alpha"), a).status, HAL_OK);
    ASSERT_EQ(Create(be.b, Spec("beta"), b, HAL_CREATE_START).status, HAL_OK);
    ASSERT_EQ(Call(T().vm_pause, b).status, HAL_OK);  // the last line: beta Paused
  }
  // Cut the last line short, as a crash in the middle of appending it would.
  auto journal = dir / "vms.journal";
  std::string text;
  {
    std::ifstream in(journal);
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  size_t last = text.rfind('\n', text.size() - 2);
  ASSERT_NE(last, std::string::npos);
  ASSERT_NE(text.find("\"Paused\"", last), std::string::npos);
  std::ofstream(journal, std::ios::trunc) << text.substr(0, last + 1 + (text.size() - last) / 2);
  {
    Backend be(config);
    ASSERT_EQ(be.status, HAL_OK) << be.message;
    Vm a, b;
    hal_error error = Err();
    ASSERT_EQ(T().vm_lookup(be.b, "alpha", 0, a.out(), &error), HAL_OK);
    EXPECT_EQ(a.State(), HAL_VM_STATE_STOPPED);
    ASSERT_EQ(T().vm_lookup(be.b, "beta", 0, b.out(), &error), HAL_OK);
    EXPECT_EQ(b.State(), HAL_VM_STATE_RUNNING);  // the write before the torn one
  }
  std::filesystem::remove_all(dir);
}

TEST(MockConcurrency, ManyThreadsOnDifferentVms) {
  Backend be(Config());
  constexpr int kThreads = 8, kVms = 40;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kVms; ++i) {
        std::string name = "t" + std::to_string(t) + "-vm" + std::to_string(i);
        Vm vm;
        if (Create(be.b, Spec(name), vm, HAL_CREATE_START).status != HAL_OK) ++failures;
        if (Call(T().vm_pause, vm).status != HAL_OK) ++failures;
        if (Call(T().vm_resume, vm).status != HAL_OK) ++failures;
        if (Call(T().vm_reboot, vm).status != HAL_OK) ++failures;
        if (Call(T().vm_force_stop, vm).status != HAL_OK) ++failures;
        if (i % 2 == 0 && Call(T().vm_delete, vm).status != HAL_OK) ++failures;
      }
    });
  }
  std::thread reader([&] {  // concurrent listing and state reads
    for (int i = 0; i < 50; ++i) {
      char *out = nullptr;
      hal_error error = Err();
      if (T().vm_list(be.b, 0, &out, &error) != HAL_OK) ++failures;
      Take(out);
    }
  });
  for (auto &t : threads) t.join();
  reader.join();
  EXPECT_EQ(failures.load(), 0);
  char *out = nullptr;
  hal_error error = Err();
  ASSERT_EQ(T().vm_list(be.b, 0, &out, &error), HAL_OK);
  EXPECT_EQ(json::parse(Take(out))["vms"].size(), size_t{kThreads * kVms / 2});
  // Every VM saw its transitions in order.
  for (int t = 0; t < kThreads; ++t) {
    auto states = be.events.states("t" + std::to_string(t) + "-vm3");
    EXPECT_EQ(states, (std::vector<hal_vm_state>{HAL_VM_STATE_STARTING, HAL_VM_STATE_RUNNING,
                                                 HAL_VM_STATE_PAUSED, HAL_VM_STATE_RUNNING,
                                                 HAL_VM_STATE_STOPPED}));
  }
}

}  // namespace
}  // namespace hal::mock::test
