// plugin_integration_test.cc - the kvm-qemu plugin end to end with real QEMU (TCG) and the
// project's test guest: loaded through hal::Plugin, driven through the C table.
#include <gtest/gtest.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <list>
#include <memory>
#include <regex>
#include <string>
#include <thread>

#include "backends/kvm-qemu/tests/plugin_fixture.h"
#include "core/host/kvm_host.h"
#include "hal/hal.h"

namespace hal::kvm_qemu::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr auto kBoot = 90s;  // TCG on 2 busy cores: generous

// A hal_error ready to use.
struct Err {
  hal_error e{};
  Err() { e.struct_size = sizeof e; }
  hal_error *operator&() { return &e; }
  const char *msg() const { return e.message; }
};

class KvmQemuPluginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    guest_ = hal::testing::test_guest_dir(&why);
    if (!guest_) GTEST_SKIP() << "kvm-qemu integration tests need the test guest: " << why;
    t_ = &plugin_table();
  }

  void TearDown() override {
    for (hal_vm *vm : vms_) t_->vm_release(vm);
    vms_.clear();
    for (hal_backend *backend : backends_) {
      Err err;
      t_->close(backend, HAL_CLOSE_STOP_VMS, &err);
    }
    backends_.clear();
    dirs_.clear();  // kills leftover QEMUs by pidfile, removes the dirs
  }

  // An event recorder that outlives every backend of the test (backends close in TearDown).
  EventRecorder &recorder() { return recorders_.emplace_back(); }

  // A fresh state dir (removed at teardown).
  std::string new_state_dir(const std::string &prefix = "hal-kvmq-") {
    dirs_.push_back(std::make_unique<QemuStateDir>(prefix));
    return dirs_.back()->path();
  }

  // Opens a backend on `state_dir` with `accelerator`, recording events into `events`.
  hal_backend *open(const std::string &state_dir, EventRecorder *events,
                    const std::string &accelerator = "tcg") {
    nlohmann::json config = {{"stateDir", state_dir}, {"accelerator", accelerator}};
    hal_backend *backend = nullptr;
    Err err;
    hal_status status =
        t_->open(config.dump().c_str(), &EventRecorder::callback, events, 0, &backend, &err);
    EXPECT_EQ(status, HAL_OK) << err.msg();
    if (backend) backends_.push_back(backend);
    return backend;
  }

  // Closes `backend` with `flags` (no longer closed at teardown).
  void close(hal_backend *backend, uint32_t flags) {
    Err err;
    ASSERT_EQ(t_->close(backend, flags, &err), HAL_OK) << err.msg();
    backends_.erase(std::find(backends_.begin(), backends_.end(), backend));
  }

  // A small direct-kernel-boot spec of the test guest.
  nlohmann::json spec(const std::string &name, uint32_t vcpus = 1,
                      const std::string &memory = "192Mi") {
    return {{"apiVersion", "hal.dev/v1"},
            {"name", name},
            {"cpu", {{"vcpus", vcpus}}},
            {"memory", {{"size", memory}}},
            {"boot",
             {{"kernel", *guest_ + "/vmlinuz"},
              {"initrd", *guest_ + "/initrd.img"},
              {"cmdline", "console=ttyS0 quiet"}}},
            {"console", {{"serial", true}}}};
  }

  hal_vm *create(hal_backend *backend, const nlohmann::json &spec_doc, uint32_t flags = 0) {
    hal_vm *vm = nullptr;
    Err err;
    hal_status status = t_->vm_create(backend, spec_doc.dump().c_str(), flags, &vm, &err);
    EXPECT_EQ(status, HAL_OK) << err.msg();
    if (vm) vms_.push_back(vm);
    return vm;
  }

  hal_vm *lookup(hal_backend *backend, const std::string &id) {
    hal_vm *vm = nullptr;
    Err err;
    EXPECT_EQ(t_->vm_lookup(backend, id.c_str(), 0, &vm, &err), HAL_OK) << err.msg();
    if (vm) vms_.push_back(vm);
    return vm;
  }

  void release(hal_vm *vm) {
    vms_.erase(std::find(vms_.begin(), vms_.end(), vm));
    t_->vm_release(vm);
  }

  hal_vm_state state(hal_vm *vm) {
    hal_vm_state s = HAL_VM_STATE_UNKNOWN;
    Err err;
    EXPECT_EQ(t_->vm_get_state(vm, 0, &s, &err), HAL_OK) << err.msg();
    return s;
  }

  bool wait_state(hal_vm *vm, hal_vm_state want, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (state(vm) == want) return true;
      std::this_thread::sleep_for(50ms);
    }
    return state(vm) == want;
  }

  nlohmann::json info(hal_vm *vm) {
    return call_json([&](char **out, hal_error *e) { return t_->vm_get_info(vm, 0, out, e); });
  }

  std::string console_path(hal_vm *vm) {
    nlohmann::json c =
        call_json([&](char **out, hal_error *e) { return t_->vm_get_console(vm, 0, out, e); });
    EXPECT_EQ(c.value("type", ""), "unix");
    return c.value("path", "");
  }

  // Starts `vm` and returns a console reader (connected right after start).
  std::unique_ptr<ConsoleReader> start_with_console(hal_vm *vm) {
    Err err;
    EXPECT_EQ(t_->vm_start(vm, 0, &err), HAL_OK) << err.msg();
    return std::make_unique<ConsoleReader>(console_path(vm));
  }

  // "boot_id=..." of a marker line.
  static std::string boot_id_of(const std::string &line) {
    std::smatch m;
    return std::regex_search(line, m, std::regex("boot_id=([0-9a-f]+)")) ? m[1].str() : "";
  }
  // The counter of a heartbeat line.
  static long heartbeat_of(const std::string &line) {
    std::smatch m;
    return std::regex_search(line, m, std::regex("heartbeat ([0-9]+)")) ? std::stol(m[1]) : -1;
  }

  const hal_backend_table *t_ = nullptr;
  std::optional<std::string> guest_;
  std::vector<std::unique_ptr<QemuStateDir>> dirs_;
  std::vector<hal_backend *> backends_;
  std::vector<hal_vm *> vms_;
  std::list<EventRecorder> recorders_;
};

// accelerator auto on this host: the choice follows the host's KVM facts, capabilities say
// why, and the test guest boots to its ready marker under it (KVM where the host's KVM runs
// stock guests, else TCG: on a kvm-pvm host this is what failed before).
TEST_F(KvmQemuPluginTest, AutoAcceleratorBootsTheGuestToReady) {
  EventRecorder &events = recorder();
  hal_backend *backend = open(new_state_dir(), &events, "auto");
  ASSERT_NE(backend, nullptr);
  nlohmann::json caps =
      call_json([&](char **out, hal_error *e) { return t_->get_capabilities(backend, 0, out, e); });
  const std::string accelerator = caps.value("accelerator", "");
  const std::string reason = caps.value("acceleratorReason", "");
  std::printf("[accelerator] auto chose %s: %s\n", accelerator.c_str(), reason.c_str());
  const std::string host_refusal = hal::kvm_host_refusal(hal::read_kvm_host_facts("/"));
  if (!host_refusal.empty()) {
    EXPECT_EQ(accelerator, "tcg");
    EXPECT_EQ(reason, "kvm: " + host_refusal);
  } else {
    EXPECT_TRUE(accelerator == "kvm" || reason.starts_with("kvm: ")) << reason;
  }
  EXPECT_EQ(schema_problems("capabilities.schema.json", caps), "") << caps.dump();
  hal_vm *vm = create(backend, spec("auto"));
  ASSERT_NE(vm, nullptr);
  auto console = start_with_console(vm);
  ASSERT_TRUE(console->wait_for("HAL-GUEST: ready", kBoot))
      << accelerator << ": " << console->text();
  EXPECT_GT(info(vm)["console"].value("outputBytes", 0), 0);
}

// The capabilities' abiVersion is the version of the table the backend was opened through (hal.h,
// ONE TABLE PER MINOR): a host offering 1.0 gets "1.0" and no 1.1 operations declared, while a
// backend opened through the 1.1 table in the same process still reports 1.1.
TEST_F(KvmQemuPluginTest, CapabilitiesReportTheNegotiatedAbiVersion) {
  const hal_backend_table &v10 = kvm_qemu_plugin().table_for(HAL_MAKE_VERSION(1, 0));
  ASSERT_EQ(v10.abi_version, HAL_MAKE_VERSION(1, 0));
  const nlohmann::json config = {{"stateDir", new_state_dir()}, {"accelerator", "tcg"}};
  hal_backend *old_host = nullptr;
  Err err;
  ASSERT_EQ(
      v10.open(config.dump().c_str(), &EventRecorder::callback, &recorder(), 0, &old_host, &err),
      HAL_OK)
      << err.msg();
  nlohmann::json caps = call_json(
      [&](char **out, hal_error *e) { return v10.get_capabilities(old_host, 0, out, e); });
  EXPECT_EQ(caps.value("abiVersion", ""), "1.0");
  EXPECT_FALSE(caps["operations"].value("vm_snapshot", true)) << caps["operations"].dump();
  hal_backend *backend = open(new_state_dir(), &recorder(), "tcg");  // through the 1.1 table
  ASSERT_NE(backend, nullptr);
  caps =
      call_json([&](char **out, hal_error *e) { return t_->get_capabilities(backend, 0, out, e); });
  EXPECT_EQ(caps.value("abiVersion", ""),
            std::to_string(HAL_ABI_VERSION_MAJOR) + "." + std::to_string(HAL_ABI_VERSION_MINOR));
  EXPECT_EQ(v10.close(old_host, 0, &err), HAL_OK) << err.msg();
}

// Boot, pause/resume, reboot and ACPI shutdown of one guest, observed on its console.
TEST_F(KvmQemuPluginTest, LifecycleObservedFromGuestConsole) {
  EventRecorder &events = recorder();
  hal_backend *backend = open(new_state_dir(), &events);
  ASSERT_NE(backend, nullptr);
  nlohmann::json caps =
      call_json([&](char **out, hal_error *e) { return t_->get_capabilities(backend, 0, out, e); });
  EXPECT_EQ(caps["accelerator"], "tcg");
  EXPECT_EQ(caps["features"]["liveMigration"], true);
  EXPECT_EQ(caps["features"]["tdx"], false);
  EXPECT_EQ(caps["operations"].value("migration_send", false), true);
  EXPECT_EQ(schema_problems("capabilities.schema.json", caps), "") << caps.dump();
  nlohmann::json host =
      call_json([&](char **out, hal_error *e) { return t_->get_host_info(backend, 0, out, e); });
  EXPECT_GE(host.value("cpus", 0), 1);
  EXPECT_EQ(host["tdx"]["supported"], false);
  EXPECT_NE(host["tdx"]["reason"].get<std::string>().find("tdx-guest"), std::string::npos);
  EXPECT_EQ(schema_problems("host-info.schema.json", host), "") << host.dump();

  hal_vm *vm = create(backend, spec("life"));
  ASSERT_NE(vm, nullptr);
  EXPECT_EQ(state(vm), HAL_VM_STATE_STOPPED);
  auto t0 = std::chrono::steady_clock::now();
  auto console = start_with_console(vm);
  auto t_running = std::chrono::steady_clock::now();
  EXPECT_EQ(state(vm), HAL_VM_STATE_RUNNING);
  auto ready = console->wait_for("HAL-GUEST: ready", kBoot);
  ASSERT_TRUE(ready) << console->text();
  auto t_ready = std::chrono::steady_clock::now();
  std::printf(
      "[timing] create->running %lld ms, running->guest ready %lld ms\n",
      (long long)std::chrono::duration_cast<std::chrono::milliseconds>(t_running - t0).count(),
      (long long)std::chrono::duration_cast<std::chrono::milliseconds>(t_ready - t_running)
          .count());
  const std::string boot_id = boot_id_of(console->line(*ready));
  ASSERT_FALSE(boot_id.empty());

  nlohmann::json doc = info(vm);
  EXPECT_EQ(doc["state"], "Running");
  EXPECT_GT(doc.value("pid", 0), 0);
  EXPECT_EQ(doc["console"]["type"], "unix");
  EXPECT_EQ(schema_problems("vm-info.schema.json", doc), "") << doc.dump();
  nlohmann::json list =
      call_json([&](char **out, hal_error *e) { return t_->vm_list(backend, 0, out, e); });
  EXPECT_EQ(list["vms"][0]["id"], "life");
  EXPECT_EQ(list["vms"][0]["state"], "Running");
  // Sockets are private.
  struct stat st {};
  ASSERT_EQ(::stat(console_path(vm).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  // Pause: the heartbeat stops.
  auto beat = console->wait_for("HAL-GUEST: heartbeat", 30s);
  ASSERT_TRUE(beat);
  Err err;
  ASSERT_EQ(t_->vm_pause(vm, 0, &err), HAL_OK) << err.msg();
  EXPECT_EQ(state(vm), HAL_VM_STATE_PAUSED);
  EXPECT_TRUE(events.wait_for(
      [](const Event &e) {
        return e.type == HAL_EVENT_STATE_CHANGED && e.state == HAL_VM_STATE_PAUSED;
      },
      5s));
  std::this_thread::sleep_for(500ms);  // a line in flight may still arrive
  size_t paused_at = console->size();
  std::this_thread::sleep_for(2500ms);
  EXPECT_FALSE(console->wait_for("HAL-GUEST: heartbeat", 0ms, paused_at))
      << "heartbeat continued while paused";
  // Resume: it continues, same boot.
  ASSERT_EQ(t_->vm_resume(vm, 0, &err), HAL_OK) << err.msg();
  EXPECT_EQ(state(vm), HAL_VM_STATE_RUNNING);
  auto resumed = console->wait_for("HAL-GUEST: heartbeat", 20s, paused_at);
  ASSERT_TRUE(resumed);
  EXPECT_EQ(boot_id_of(console->line(*resumed)), boot_id);

  // Reboot (Ctrl-Alt-Del): a new boot with a new boot_id, VM stays RUNNING.
  size_t before_reboot = console->size();
  ASSERT_EQ(t_->vm_reboot(vm, 0, &err), HAL_OK) << err.msg();
  auto rebooted = console->wait_for("HAL-GUEST: ready", kBoot, before_reboot);
  ASSERT_TRUE(rebooted) << console->text();
  EXPECT_NE(boot_id_of(console->line(*rebooted)), boot_id);
  EXPECT_EQ(state(vm), HAL_VM_STATE_RUNNING);
  EXPECT_TRUE(
      events.wait_for([](const Event &e) { return e.type == HAL_EVENT_GUEST_REBOOTED; }, 5s));

  // Reset (hard): another new boot.
  size_t before_reset = console->size();
  ASSERT_EQ(t_->vm_reset(vm, 0, &err), HAL_OK) << err.msg();
  ASSERT_TRUE(console->wait_for("HAL-GUEST: ready", kBoot, before_reset)) << console->text();
  ASSERT_TRUE(console->wait_for("HAL-GUEST: info-done", 30s, before_reset));
  std::this_thread::sleep_for(500ms);  // acpid is up once info-done printed

  // Shutdown through ACPI, without force: the guest powers itself off.
  ASSERT_EQ(t_->vm_shutdown(vm, 60000, HAL_SHUTDOWN_NO_FORCE, &err), HAL_OK) << err.msg();
  EXPECT_TRUE(console->wait_for("HAL-GUEST: powerdown", 5s)) << console->text();
  EXPECT_EQ(state(vm), HAL_VM_STATE_STOPPED);
  EXPECT_FALSE(
      events.wait_for([](const Event &e) { return e.type == HAL_EVENT_GUEST_CRASHED; }, 0ms));
  ASSERT_EQ(t_->vm_delete(vm, 0, &err), HAL_OK) << err.msg();
  EXPECT_EQ(t_->vm_get_state(vm, 0, nullptr, &err), HAL_INVALID_ARGUMENT);
  hal_vm_state s;
  EXPECT_EQ(t_->vm_get_state(vm, 0, &s, &err), HAL_NOT_FOUND);
}

// Two guest NUMA nodes, an emulated e1000e on guest node 1, vCPU pinning.
TEST_F(KvmQemuPluginTest, NumaDeviceLocalityAndPinning) {
  EventRecorder &events = recorder();
  hal_backend *backend = open(new_state_dir(), &events);
  ASSERT_NE(backend, nullptr);
  nlohmann::json s = spec("numa", 2, "256Mi");
  s["numa"] = {
      {"nodes",
       {{{"id", 0}, {"vcpus", {0}}, {"memory", "128Mi"}, {"hostNodes", {0}}, {"policy", "bind"}},
        {{"id", 1}, {"vcpus", {1}}, {"memory", "128Mi"}}}}};
  s["hostDevices"] = {{{"name", "standin"},
                       {"type", "emulated"},
                       {"model", "e1000e"},
                       {"hostNumaNode", 0},
                       {"guestNumaNode", 1}}};
  const unsigned host_cpus = std::max(1u, std::thread::hardware_concurrency());
  const uint32_t last = host_cpus - 1;
  s["cpu"]["pinning"] = {{{"vcpu", 0}, {"hostCpus", {last}}}, {{"vcpu", 1}, {"hostCpus", {0}}}};
  hal_vm *vm = create(backend, s);
  ASSERT_NE(vm, nullptr);
  auto console = start_with_console(vm);
  ASSERT_TRUE(console->wait_for("HAL-GUEST: info-done", kBoot)) << console->text();
  EXPECT_TRUE(console->wait_for("HAL-GUEST: numa nodes=2", 0ms)) << console->text();
  // 8086:10d3 is the e1000e.
  auto pci = console->wait_for("device=0x10d3", 0ms);
  ASSERT_TRUE(pci) << console->text();
  EXPECT_NE(console->line(*pci).find("numa_node=1"), std::string::npos) << console->line(*pci);

  nlohmann::json doc = info(vm);
  const int pid = doc.value("pid", 0);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(doc["vcpuThreads"].size(), 2u) << doc.dump();
  EXPECT_EQ(doc["numaPlacement"].size(), 2u);
  EXPECT_EQ(schema_problems("vm-info.schema.json", doc), "") << doc.dump();
  for (const auto &thread : doc["vcpuThreads"]) {
    const uint32_t vcpu = thread["vcpu"];
    const uint32_t want = vcpu == 0 ? last : 0;
    EXPECT_EQ(thread["affinity"], nlohmann::json::array({want})) << doc.dump();
    // Read the kernel's view independently.
    std::ifstream status("/proc/" + std::to_string(pid) + "/task/" +
                         std::to_string(thread["tid"].get<int>()) + "/status");
    std::string line, allowed;
    while (std::getline(status, line)) {
      if (line.rfind("Cpus_allowed_list:", 0) == 0) allowed = line.substr(line.find(':') + 1);
    }
    allowed.erase(0, allowed.find_first_not_of(" \t"));
    EXPECT_EQ(allowed, std::to_string(want)) << "vCPU " << vcpu;
  }
  Err err;
  ASSERT_EQ(t_->vm_force_stop(vm, 0, &err), HAL_OK) << err.msg();
  EXPECT_EQ(state(vm), HAL_VM_STATE_STOPPED);
}

// Live migration between two backend instances over loopback: the guest keeps its boot.
TEST_F(KvmQemuPluginTest, LiveMigrationKeepsGuestRunning) {
  EventRecorder &source_events = recorder();
  EventRecorder &target_events = recorder();
  hal_backend *source = open(new_state_dir("hal-kvmq-src-"), &source_events);
  hal_backend *target = open(new_state_dir("hal-kvmq-dst-"), &target_events);
  ASSERT_TRUE(source && target);
  nlohmann::json s = spec("mig");
  s["migration"] = {{"maxDowntimeMs", 1000}};
  hal_vm *vm = create(source, s);
  ASSERT_NE(vm, nullptr);
  auto console = start_with_console(vm);
  auto first = console->wait_for("HAL-GUEST: heartbeat 2 ", kBoot);
  ASSERT_TRUE(first) << console->text();
  const std::string boot_id = boot_id_of(console->line(*first));

  hal_vm *incoming = nullptr;
  char *endpoint = nullptr;
  Err err;
  ASSERT_EQ(t_->migration_prepare_incoming(target, s.dump().c_str(), nullptr, 0, &incoming,
                                           &endpoint, &err),
            HAL_OK)
      << err.msg();
  vms_.push_back(incoming);
  nlohmann::json ep = nlohmann::json::parse(endpoint);
  t_->free_string(endpoint);
  ASSERT_TRUE(std::regex_match(ep.value("uri", ""), std::regex("tcp:127\\.0\\.0\\.1:[1-9][0-9]*")))
      << ep.dump();
  EXPECT_EQ(state(incoming), HAL_VM_STATE_INCOMING);
  auto target_console = std::make_unique<ConsoleReader>(console_path(incoming));

  nlohmann::json params = {{"uri", ep["uri"]}, {"maxDowntimeMs", 1000}, {"timeoutMs", 120000}};
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(t_->migration_send(vm, params.dump().c_str(), 0, &err), HAL_OK) << err.msg();
  auto finished = source_events.wait_for(
      [](const Event &e) { return e.type == HAL_EVENT_MIGRATION_FINISHED; }, 120s);
  ASSERT_TRUE(finished);
  auto t1 = std::chrono::steady_clock::now();
  ASSERT_EQ(finished->detail.value("status", ""), "completed") << finished->detail.dump();
  const long downtime = finished->detail.value("downtimeMs", -1L);
  std::printf("[timing] migration of 192 MiB guest: %lld ms total, downtime %ld ms\n",
              (long long)std::chrono::duration_cast<std::chrono::milliseconds>(t1 - t0).count(),
              downtime);
  EXPECT_TRUE(source_events.wait_for(
      [](const Event &e) { return e.type == HAL_EVENT_MIGRATION_PROGRESS; }, 0ms));
  EXPECT_GE(downtime, 0);
  EXPECT_LE(downtime, 1000) << finished->detail.dump();  // the limit set above (TCG, 2 busy cores)
  EXPECT_TRUE(wait_state(vm, HAL_VM_STATE_MIGRATED, 10s));
  EXPECT_TRUE(wait_state(incoming, HAL_VM_STATE_RUNNING, 20s));
  nlohmann::json progress = call_json(
      [&](char **out, hal_error *e) { return t_->migration_get_progress(vm, 0, out, e); });
  EXPECT_EQ(progress["status"], "completed");
  EXPECT_EQ(schema_problems("migration-progress.schema.json", progress), "") << progress.dump();
  EXPECT_EQ(schema_problems("migration-progress.schema.json", finished->detail), "");
  EXPECT_GT(progress.value("transferredBytes", 0L), 0);

  // The guest goes on on the target: same boot, counter continues.
  const long before = heartbeat_of(console->line(console->size() - 1));
  auto beat = target_console->wait_for("HAL-GUEST: heartbeat", 30s);
  ASSERT_TRUE(beat) << target_console->text();
  EXPECT_EQ(boot_id_of(target_console->line(*beat)), boot_id);
  EXPECT_GE(heartbeat_of(target_console->line(*beat)), before);
  EXPECT_FALSE(target_console->wait_for("HAL-GUEST: ready", 0ms));
  // The source QEMU is gone.
  nlohmann::json source_info = info(vm);
  EXPECT_EQ(source_info["state"], "Migrated");
  EXPECT_FALSE(source_info.contains("pid"));
  ASSERT_EQ(t_->vm_force_stop(incoming, 0, &err), HAL_OK) << err.msg();
}

// Cancelling a migration leaves the source running and the target stopped.
TEST_F(KvmQemuPluginTest, MigrationCancelLeavesSourceRunning) {
  EventRecorder &source_events = recorder();
  EventRecorder &target_events = recorder();
  hal_backend *source = open(new_state_dir("hal-kvmq-src-"), &source_events);
  hal_backend *target = open(new_state_dir("hal-kvmq-dst-"), &target_events);
  ASSERT_TRUE(source && target);
  nlohmann::json s = spec("cancel");
  hal_vm *vm = create(source, s);
  auto console = start_with_console(vm);
  auto first = console->wait_for("HAL-GUEST: heartbeat", kBoot);
  ASSERT_TRUE(first) << console->text();
  const std::string boot_id = boot_id_of(console->line(*first));

  Err err;
  char *endpoint = nullptr;
  {
    // First a migration that times out (1 MiB/s cannot move 192 MiB in 2 s): cancelled.
    hal_vm *incoming = nullptr;
    ASSERT_EQ(t_->migration_prepare_incoming(target, s.dump().c_str(), nullptr, 0, &incoming,
                                             &endpoint, &err),
              HAL_OK)
        << err.msg();
    vms_.push_back(incoming);
    std::string uri = nlohmann::json::parse(endpoint)["uri"];
    t_->free_string(endpoint);
    nlohmann::json params = {{"uri", uri}, {"bandwidthMiBps", 1}, {"timeoutMs", 2000}};
    ASSERT_EQ(t_->migration_send(vm, params.dump().c_str(), 0, &err), HAL_OK) << err.msg();
    auto finished = source_events.wait_for(
        [](const Event &e) { return e.type == HAL_EVENT_MIGRATION_FINISHED; }, 30s);
    ASSERT_TRUE(finished);
    EXPECT_EQ(finished->detail.value("status", ""), "cancelled") << finished->detail.dump();
    EXPECT_NE(finished->detail.value("error", "").find("timed out"), std::string::npos);
    EXPECT_EQ(state(vm), HAL_VM_STATE_RUNNING);
    ASSERT_TRUE(wait_state(incoming, HAL_VM_STATE_STOPPED, 30s)) << state(incoming);
    ASSERT_EQ(t_->vm_delete(incoming, 0, &err), HAL_OK) << err.msg();
    release(incoming);
  }
  const size_t events_before = source_events.count();

  hal_vm *incoming = nullptr;
  ASSERT_EQ(
      t_->migration_prepare_incoming(target, s.dump().c_str(), "{}", 0, &incoming, &endpoint, &err),
      HAL_OK)
      << err.msg();
  vms_.push_back(incoming);
  std::string uri = nlohmann::json::parse(endpoint)["uri"];
  t_->free_string(endpoint);
  // 1 MiB/s: it cannot finish before we cancel.
  nlohmann::json params = {{"uri", uri}, {"bandwidthMiBps", 1}};
  ASSERT_EQ(t_->migration_send(vm, params.dump().c_str(), 0, &err), HAL_OK) << err.msg();
  EXPECT_EQ(t_->migration_send(vm, params.dump().c_str(), 0, &err), HAL_FAILED_PRECONDITION);
  ASSERT_TRUE(source_events.wait_for(
      [](const Event &e) {
        return e.type == HAL_EVENT_MIGRATION_PROGRESS && e.detail.value("status", "") == "active";
      },
      30s, events_before));
  ASSERT_EQ(t_->migration_cancel(vm, 0, &err), HAL_OK) << err.msg();
  auto finished = source_events.wait_for(
      [](const Event &e) { return e.type == HAL_EVENT_MIGRATION_FINISHED; }, 30s, events_before);
  ASSERT_TRUE(finished);
  EXPECT_EQ(finished->detail.value("status", ""), "cancelled");
  EXPECT_EQ(state(vm), HAL_VM_STATE_RUNNING);
  EXPECT_TRUE(wait_state(incoming, HAL_VM_STATE_STOPPED, 30s)) << state(incoming);
  size_t now = console->size();
  auto beat = console->wait_for("HAL-GUEST: heartbeat", 20s, now);
  ASSERT_TRUE(beat);
  EXPECT_EQ(boot_id_of(console->line(*beat)), boot_id);
  EXPECT_EQ(t_->migration_cancel(vm, 0, &err), HAL_FAILED_PRECONDITION);
}

// A new backend instance re-adopts a running VM; kill -9 of QEMU is then a crash.
TEST_F(KvmQemuPluginTest, ReadoptionAfterRestartThenKillIsCrash) {
  // A state dir with ',' and '=' in its path: nothing may be injected into QEMU's options.
  const std::string root = new_state_dir("hal-kvmq-a,b=c-");
  EventRecorder &first_events = recorder();
  hal_backend *first = open(root, &first_events);
  ASSERT_NE(first, nullptr);
  hal_vm *vm = create(first, spec("adopt"));
  ASSERT_NE(vm, nullptr);
  std::string console_socket;
  int pid = 0;
  {
    auto console = start_with_console(vm);
    ASSERT_TRUE(console->wait_for("HAL-GUEST: heartbeat", kBoot)) << console->text();
    pid = info(vm).value("pid", 0);
    console_socket = console_path(vm);
  }
  release(vm);
  close(first, HAL_CLOSE_KEEP_VMS);
  ASSERT_EQ(::kill(pid, 0), 0) << "QEMU must survive close()";

  EventRecorder &events = recorder();
  hal_backend *second = open(root, &events);
  ASSERT_NE(second, nullptr);
  nlohmann::json list =
      call_json([&](char **out, hal_error *e) { return t_->vm_list(second, 0, out, e); });
  ASSERT_EQ(list["vms"].size(), 1u);
  EXPECT_EQ(list["vms"][0]["state"], "Running");
  hal_vm *adopted = lookup(second, "adopt");
  ASSERT_NE(adopted, nullptr);
  EXPECT_EQ(info(adopted).value("pid", 0), pid);
  // Still controllable: pause/resume through the new QMP connection.
  auto console = std::make_unique<ConsoleReader>(console_socket);
  Err err;
  ASSERT_EQ(t_->vm_pause(adopted, 0, &err), HAL_OK) << err.msg();
  EXPECT_EQ(state(adopted), HAL_VM_STATE_PAUSED);
  ASSERT_EQ(t_->vm_resume(adopted, 0, &err), HAL_OK) << err.msg();
  ASSERT_TRUE(console->wait_for("HAL-GUEST: heartbeat", 20s));

  // kill -9: CRASHED plus a crash event naming the signal.
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  auto crash =
      events.wait_for([](const Event &e) { return e.type == HAL_EVENT_GUEST_CRASHED; }, 20s);
  ASSERT_TRUE(crash);
  EXPECT_EQ(crash->vm_id, "adopt");
  EXPECT_EQ(crash->state, HAL_VM_STATE_CRASHED);
  EXPECT_FALSE(crash->detail.value("reason", "").empty()) << crash->detail.dump();
  EXPECT_EQ(state(adopted), HAL_VM_STATE_CRASHED);
  // A crashed VM can be deleted.
  ASSERT_EQ(t_->vm_delete(adopted, 0, &err), HAL_OK) << err.msg();
}

// kill -9 of a QEMU we spawned ourselves reports the signal.
TEST_F(KvmQemuPluginTest, KillNineOfOwnChildReportsSignal) {
  EventRecorder &events = recorder();
  const std::string state_root = new_state_dir();
  hal_backend *backend = open(state_root, &events);
  hal_vm *vm = create(backend, spec("killed"), HAL_CREATE_START);
  ASSERT_NE(vm, nullptr);
  EXPECT_EQ(state(vm), HAL_VM_STATE_RUNNING);
  const int pid = info(vm).value("pid", 0);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  auto crash =
      events.wait_for([](const Event &e) { return e.type == HAL_EVENT_GUEST_CRASHED; }, 20s);
  ASSERT_TRUE(crash);
  EXPECT_NE(crash->detail.value("reason", "").find("signal 9"), std::string::npos)
      << crash->detail.dump();
  EXPECT_EQ(state(vm), HAL_VM_STATE_CRASHED);
  // And it can be started again.
  Err err;
  ASSERT_EQ(t_->vm_start(vm, HAL_START_PAUSED, &err), HAL_OK) << err.msg();
  EXPECT_EQ(state(vm), HAL_VM_STATE_PAUSED);
  const int second_pid = info(vm).value("pid", 0);
  ASSERT_GT(second_pid, 0);

  // QEMU dies while no backend watches it: the next open() reports it CRASHED.
  release(vm);
  close(backend, HAL_CLOSE_KEEP_VMS);
  ASSERT_EQ(::kill(second_pid, SIGKILL), 0);
  ASSERT_EQ(::waitpid(second_pid, nullptr, 0), second_pid);  // we are its parent: reap it
  EventRecorder &later_events = recorder();
  hal_backend *later = open(state_root, &later_events);
  ASSERT_NE(later, nullptr);
  nlohmann::json list =
      call_json([&](char **out, hal_error *e) { return t_->vm_list(later, 0, out, e); });
  ASSERT_EQ(list["vms"].size(), 1u);
  EXPECT_EQ(list["vms"][0]["state"], "Crashed");
  auto reported =
      later_events.wait_for([](const Event &e) { return e.type == HAL_EVENT_GUEST_CRASHED; }, 0ms);
  ASSERT_TRUE(reported);
  EXPECT_NE(reported->detail.value("reason", "").find("exited while no backend was watching"),
            std::string::npos);
}

// The /proc/<pid>/status line `field` ("Seccomp", "Uid", ...), its value without the tab.
std::string proc_status_field(int pid, const std::string &field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":\t", 0) == 0) return line.substr(field.size() + 2);
  }
  return "";
}

// Issue 25: QEMU runs confined - seccomp sandbox on (filter mode), no_new_privs, and, when the
// agent is root, as the unprivileged user config.runAs names (default nobody).
TEST_F(KvmQemuPluginTest, QemuRunsSandboxedWithoutPrivileges) {
  EventRecorder &events = recorder();
  hal_backend *backend = open(new_state_dir(), &events);
  hal_vm *vm = create(backend, spec("confined"), HAL_CREATE_START);
  ASSERT_NE(vm, nullptr);
  ASSERT_EQ(state(vm), HAL_VM_STATE_RUNNING);
  const int pid = info(vm).value("pid", 0);
  ASSERT_GT(pid, 0);
  EXPECT_EQ(proc_status_field(pid, "Seccomp"), "2");
  EXPECT_EQ(proc_status_field(pid, "NoNewPrivs"), "1");
  const std::string uids = proc_status_field(pid, "Uid");
  if (::geteuid() == 0) {
    struct passwd *nobody = ::getpwnam("nobody");
    ASSERT_NE(nobody, nullptr);
    const std::string id = std::to_string(nobody->pw_uid);
    EXPECT_EQ(uids, id + "\t" + id + "\t" + id + "\t" + id);  // real, effective, saved, fs
    EXPECT_EQ(proc_status_field(pid, "CapEff"), "0000000000000000");
  } else {
    EXPECT_EQ(uids.substr(0, uids.find('\t')), std::to_string(::getuid()));
  }
  // The guest still runs and answers: the sandbox does not get in QEMU's way.
  Err err;
  ASSERT_EQ(t_->vm_pause(vm, 0, &err), HAL_OK) << err.msg();
  ASSERT_EQ(t_->vm_resume(vm, 0, &err), HAL_OK) << err.msg();
  EXPECT_EQ(state(vm), HAL_VM_STATE_RUNNING);
}

// TDX on this host: UNSUPPORTED naming what is missing; errors for bad input.
TEST_F(KvmQemuPluginTest, TdxAndInvalidSpecsAreRefused) {
  EventRecorder &events = recorder();
  hal_backend *backend = open(new_state_dir(), &events);
  nlohmann::json s = spec("tdx");
  s["launchSecurity"] = {{"type", "tdx"}, {"tdx", {{"attributes", "0x10000000"}}}};
  hal_vm *vm = nullptr;
  Err err;
  EXPECT_EQ(t_->vm_create(backend, s.dump().c_str(), 0, &vm, &err), HAL_UNSUPPORTED);
  std::string message = err.msg();
  EXPECT_NE(message.find("TDX: "), std::string::npos) << message;
  EXPECT_NE(message.find("has no tdx-guest object (needs >= 10.1)"), std::string::npos) << message;
  char *endpoint = nullptr;
  EXPECT_EQ(
      t_->migration_prepare_incoming(backend, s.dump().c_str(), nullptr, 0, &vm, &endpoint, &err),
      HAL_UNSUPPORTED);
  EXPECT_EQ(t_->vm_create(backend, "{not json", 0, &vm, &err), HAL_INVALID_ARGUMENT);
  EXPECT_EQ(t_->vm_create(backend, spec("Bad_Name").dump().c_str(), 0, &vm, &err),
            HAL_INVALID_ARGUMENT);
  EXPECT_EQ(t_->vm_create(backend, spec("ok").dump().c_str(), HAL_CREATE_VALIDATE_ONLY, &vm, &err),
            HAL_OK)
      << err.msg();
  EXPECT_EQ(vm, nullptr);
  hal_vm *first = create(backend, spec("dup"));
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(t_->vm_create(backend, spec("dup").dump().c_str(), 0, &vm, &err), HAL_ALREADY_EXISTS);
  EXPECT_EQ(t_->vm_pause(first, 0, &err), HAL_FAILED_PRECONDITION);
  EXPECT_EQ(t_->vm_get_console(first, 0, &endpoint, &err), HAL_FAILED_PRECONDITION);
  EXPECT_EQ(t_->close(backend, 0, &err), HAL_FAILED_PRECONDITION);  // handle unreleased
  nlohmann::json bad = {{"stateDir", "/tmp"}, {"accelerator", "warp"}};
  hal_backend *other = nullptr;
  EXPECT_EQ(t_->open(bad.dump().c_str(), nullptr, nullptr, 0, &other, &err), HAL_INVALID_ARGUMENT);
}

// What `qemu-system-x86_64 -machine help` says, independently of the backend's QMP probe: the
// machine q35 is an alias of, and an older q35 machine.
struct HelpMachines {
  std::string q35_alias_of, older_q35;
};
HelpMachines machines_from_help() {
  HelpMachines found;
  FILE *pipe = ::popen("qemu-system-x86_64 -machine help 2>/dev/null", "r");
  if (pipe == nullptr) return found;
  std::string text;
  char buffer[4096];
  while (size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) text.append(buffer, n);
  ::pclose(pipe);
  std::smatch m;
  if (std::regex_search(text, m, std::regex(R"(\nq35 .*\(alias of (pc-q35-[0-9.]+)\))")))
    found.q35_alias_of = m[1];
  const std::regex versioned(R"(\n(pc-q35-[0-9.]+) )");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), versioned);
       it != std::sregex_iterator() && found.older_q35.empty(); ++it)
    if ((*it)[1] != found.q35_alias_of) found.older_q35 = (*it)[1];
  return found;
}

// A VM is pinned to the versioned machine behind q35 and keeps it when the backend reopens; an
// older q35 machine asked for by name is the one QEMU runs; other machines are refused by name.
TEST_F(KvmQemuPluginTest, VmsArePinnedToAVersionedQ35Machine) {
  const HelpMachines help = machines_from_help();
  ASSERT_FALSE(help.q35_alias_of.empty()) << "qemu-system-x86_64 -machine help names no q35 alias";
  const std::string root = new_state_dir();
  EventRecorder &events = recorder();
  hal_backend *backend = open(root, &events);
  hal_vm *pinned = create(backend, spec("pinned"));
  ASSERT_NE(pinned, nullptr);
  EXPECT_EQ(info(pinned)["spec"].value("machine", ""), help.q35_alias_of);
  release(pinned);
  close(backend, HAL_CLOSE_KEEP_VMS);
  hal_backend *reopened = open(root, &recorder());
  hal_vm *adopted = lookup(reopened, "pinned");
  ASSERT_NE(adopted, nullptr);
  EXPECT_EQ(info(adopted)["spec"].value("machine", ""), help.q35_alias_of);

  if (!help.older_q35.empty()) {
    nlohmann::json older = spec("older");
    older["machine"] = help.older_q35;
    hal_vm *vm = create(reopened, older, HAL_CREATE_START);
    ASSERT_NE(vm, nullptr);
    const int pid = info(vm).value("pid", 0);
    ASSERT_GT(pid, 0);
    std::ifstream cmdline("/proc/" + std::to_string(pid) + "/cmdline");
    std::string args((std::istreambuf_iterator<char>(cmdline)), std::istreambuf_iterator<char>());
    EXPECT_NE(args.find(std::string("-machine") + '\0' + help.older_q35 + ",accel=tcg"),
              std::string::npos);
  }

  for (const std::string refused : {"pc-i440fx-7.2", "pc-q35-0.1"}) {
    nlohmann::json other = spec("refused");
    other["machine"] = refused;
    hal_vm *vm = nullptr;
    Err err;
    EXPECT_EQ(t_->vm_create(reopened, other.dump().c_str(), 0, &vm, &err), HAL_UNSUPPORTED)
        << refused;
    EXPECT_NE(std::string(err.msg()).find("spec.machine"), std::string::npos) << err.msg();
  }
}

}  // namespace
}  // namespace hal::kvm_qemu::testing
