// hal_tour.cc - HAL's main job until the controller lands: loads a backend plugin through the
// real loader, prints what it is, and runs a VM through its whole life (define, start, pause,
// resume, reboot, live-migrate to a second backend instance, graceful shutdown, delete),
// printing every event the backend sends. Exits non-zero if any step misbehaves.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "core/plugin/backend.h"
#include "core/plugin/plugin.h"
#include "hal/host.hpp"
#include "hal/names.h"

namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// The embedded default VM: 2 vCPUs on 2 guest NUMA nodes bound to the host's nodes, pinned.
constexpr const char *kDefaultSpec = R"({
  "apiVersion": "hal.dev/v1",
  "name": "tour-vm",
  "cpu": {"vcpus": 2, "topology": {"sockets": 2, "cores": 1, "threads": 1},
          "pinning": [{"vcpu": 0, "hostCpus": [0]}, {"vcpu": 1, "hostCpus": [1]}]},
  "memory": {"size": "256Mi"},
  "numa": {"nodes": [
    {"id": 0, "vcpus": [0], "memory": "128Mi", "hostNodes": [0], "policy": "bind"},
    {"id": 1, "vcpus": [1], "memory": "128Mi", "hostNodes": [1], "policy": "preferred"}]},
  "console": {"serial": true},
  "migration": {"maxDowntimeMs": 300}
})";

std::mutex print_lock;

// Prints one line under a lock (events arrive on the dispatcher thread).
void say(const std::string &line) {
  std::lock_guard<std::mutex> guard(print_lock);
  std::cout << line << std::endl;
}

// Prints events of one backend instance, tagged with its name.
void print_events(hal::Backend &backend, const std::string &tag) {
  backend.on_event([tag](const hal::Event &event) {
    std::string line = "  event[" + tag + "] " + hal_event_type_name(event.type) +
                       " vm=" + event.vm_id + " state=" + hal_vm_state_name(event.state);
    if (event.type == HAL_EVENT_MIGRATION_PROGRESS && event.detail.is_object()) {
      line += " transferred=" + std::to_string(event.detail.value("transferredBytes", 0ull)) + "/" +
              std::to_string(event.detail.value("totalBytes", 0ull));
    } else if (!event.detail.is_null()) {
      line += " " + event.detail.dump();
    }
    say(line);
  });
}

// Fails the tour with a message unless `condition` holds.
void expect(bool condition, const std::string &what) {
  if (!condition) throw std::runtime_error("tour check failed: " + what);
}

// Waits until `vm` reaches `state` or the timeout passes.
void wait_for(const hal::Vm &vm, hal_vm_state state, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (vm.state() != state) {
    if (std::chrono::steady_clock::now() > deadline) {
      throw std::runtime_error(std::string("VM did not become ") + hal_vm_state_name(state) +
                               ", it is " + hal_vm_state_name(vm.state()));
    }
    std::this_thread::sleep_for(10ms);
  }
}

int run(const std::string &plugin_path, const json &config, const json &spec) {
  say("== load " + plugin_path);
  auto plugin = hal::Plugin::load(plugin_path);
  say("  identity: " + plugin->identity().dump());
  say("  ABI offered " + std::to_string(HAL_VERSION_MAJOR(plugin->offered_version())) + "." +
      std::to_string(HAL_VERSION_MINOR(plugin->offered_version())) + ", negotiated " +
      std::to_string(HAL_VERSION_MAJOR(plugin->negotiated_version())) + "." +
      std::to_string(HAL_VERSION_MINOR(plugin->negotiated_version())));
  std::string missing;
  for (const auto &[entry, present] : plugin->coverage()) {
    if (!present) missing += " " + entry;
  }
  say("  entries not provided:" + (missing.empty() ? std::string(" none") : missing));

  json config_a = config, config_b = config;
  config_a["instance"] = "tour-source";
  config_b["instance"] = "tour-target";
  auto source = hal::Backend::open(plugin, config_a);
  auto target = hal::Backend::open(plugin, config_b);
  print_events(source, "source");
  print_events(target, "target");
  // Starts a section once the events of the previous one are printed.
  auto section = [&](const std::string &title) {
    source.drain_events();
    target.drain_events();
    say("== " + title);
  };
  say("== capabilities\n  " + source.capabilities().dump());
  auto host = source.host_info();
  say("== host: " + std::to_string(host.value("cpus", 0)) + " CPUs, " +
      std::to_string(host.value("numaNodes", json::array()).size()) + " NUMA nodes, TDX " +
      (host["tdx"].value("supported", false) ? "yes"
                                             : "no (" + host["tdx"].value("reason", "") + ")"));

  section("a bad spec is refused before the plugin sees it");
  json bad = spec;
  bad["numa"]["nodes"][1]["memory"] = "0";
  try {
    source.create(bad, HAL_CREATE_VALIDATE_ONLY);
    expect(false, "a spec with a zero-sized NUMA node was accepted");
  } catch (const hal::Error &error) {
    say("  " + std::string(hal::status_name(error.status())) + ": " + error.what());
  }

  section("define and start " + spec.value("name", ""));
  auto vm = source.create(spec);
  vm.start();
  expect(vm.state() == HAL_VM_STATE_RUNNING, "running after start");
  std::this_thread::sleep_for(200ms);
  say("  info: " + vm.info()["guest"].dump());

  section("pause, resume, reboot");
  vm.pause();
  expect(vm.state() == HAL_VM_STATE_PAUSED, "paused");
  vm.resume();
  vm.reboot();
  expect(vm.state() == HAL_VM_STATE_RUNNING, "running after reboot");

  section("live-migrate to the second backend instance");
  auto boot_count = vm.info()["guest"].value("bootCount", 0);
  auto incoming = target.migration_prepare_incoming(spec);
  say("  target listens at " + incoming.endpoint.dump());
  json params = {{"uri", incoming.endpoint["uri"]}, {"maxDowntimeMs", 300}};
  vm.migration_send(params);
  wait_for(incoming.vm, HAL_VM_STATE_RUNNING, 30s);
  wait_for(vm, HAL_VM_STATE_MIGRATED, 5s);
  auto progress = vm.migration_progress();
  say("  migration " + progress.value("status", "") + ": " +
      std::to_string(progress.value("transferredBytes", 0ull)) + " bytes, downtime " +
      std::to_string(progress.value("downtimeMs", 0)) + " ms");
  auto guest = incoming.vm.info()["guest"];
  expect(guest.value("bootCount", -1) == boot_count, "the migrated guest did not reboot");
  say("  guest on target: " + guest.dump());

  section("shut down and delete");
  incoming.vm.shutdown(5s);
  expect(incoming.vm.state() == HAL_VM_STATE_STOPPED, "stopped after shutdown");
  incoming.vm.delete_vm();
  vm.delete_vm();
  section("tour complete");
  say("  source VMs: " + source.list().dump() + ", target VMs: " + target.list().dump());
  return 0;
}

}  // namespace

int main(int argc, char **argv) {
  CLI::App app{"HAL tour: run a VM through its whole life on a backend plugin"};
  std::string plugin_path, config_file, spec_file;
  app.add_option("--plugin", plugin_path, "backend plugin (.so)")->required();
  app.add_option("--config", config_file, "backend configuration (JSON file)")
      ->check(CLI::ExistingFile);
  app.add_option("--spec", spec_file, "VM spec (JSON file); default: an embedded 2-node NUMA VM")
      ->check(CLI::ExistingFile);
  CLI11_PARSE(app, argc, argv);
  try {
    json config = json::object();
    json spec = json::parse(kDefaultSpec);
    if (!config_file.empty()) config = json::parse(std::ifstream(config_file));
    if (!spec_file.empty()) spec = json::parse(std::ifstream(spec_file));
    return run(plugin_path, config, spec);
  } catch (const std::exception &error) {
    std::cerr << "hal-tour: " << error.what() << std::endl;
    return 1;
  }
}
