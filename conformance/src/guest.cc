// guest.cc - console marker reading and info-based guest observation (see guest.h).
#include "guest.h"

#include "console_watch.h"
#include "suite.h"

namespace hal::conformance {

std::optional<std::string> console_socket(const Vm &vm) {
  if (!suite().declares_feature("console") || !suite().declares_operation("vm_get_console")) {
    return std::nullopt;
  }
  nlohmann::json endpoint;
  if (outcome_of([&] { endpoint = vm.console(); }).status != HAL_OK) return std::nullopt;
  if (!endpoint.is_object() || endpoint.value("type", "") != "unix") return std::nullopt;
  std::string path = endpoint.value("path", "");
  if (path.empty()) return std::nullopt;
  return path;
}

std::optional<std::vector<std::string>> read_console_marker(const std::string &path,
                                                            const std::regex &pattern,
                                                            std::chrono::milliseconds timeout) {
  auto watch = ConsoleWatch::connect(path);
  if (!watch) return std::nullopt;
  auto line = watch->wait_for(
      [&](const ConsoleLine &l) { return std::regex_search(l.text, pattern); }, timeout);
  if (!line) return std::nullopt;
  std::smatch m;
  std::regex_search(line->text, m, pattern);
  std::vector<std::string> groups;
  for (const auto &group : m) groups.push_back(group.str());
  return groups;
}

bool wait_guest_ready(const Vm &vm, std::chrono::milliseconds timeout) {
  auto path = console_socket(vm);
  if (!path) return true;
  static const std::regex ready(R"(HAL-GUEST: (ready|heartbeat) )");
  return read_console_marker(*path, ready, timeout).has_value();
}

GuestLiveness observe_guest(const Vm &vm, std::chrono::milliseconds timeout) {
  GuestLiveness live;
  if (auto path = console_socket(vm)) {
    static const std::regex heartbeat(R"(HAL-GUEST: heartbeat (\d+) boot_id=(\S+))");
    if (auto m = read_console_marker(*path, heartbeat, timeout)) {
      live.known = true;
      live.source = "console";
      live.heartbeat = std::stoll((*m)[1]);
      live.boot_id = (*m)[2];
      return live;
    }
  }
  nlohmann::json info;
  if (outcome_of([&] { info = vm.info(); }).status != HAL_OK) return live;
  if (info.contains("guest") && info["guest"].is_object()) {
    const auto &g = info["guest"];
    if (g.contains("bootCount")) {
      live.known = true;
      live.source = "info";
      live.boot_id = "bootCount=" + std::to_string(g["bootCount"].get<int64_t>());
      if (g.contains("heartbeat")) live.heartbeat = g["heartbeat"].get<int64_t>();
      if (g.contains("uptimeMs")) live.uptime_ms = g["uptimeMs"].get<int64_t>();
    }
  }
  return live;
}

std::optional<int> guest_numa_nodes(const Vm &vm, std::chrono::milliseconds timeout,
                                    std::string &source) {
  if (auto path = console_socket(vm)) {
    static const std::regex numa(R"(HAL-GUEST: numa nodes=(\d+))");
    if (auto m = read_console_marker(*path, numa, timeout)) {
      source = "console";
      return std::stoi((*m)[1]);
    }
  }
  nlohmann::json info;
  if (outcome_of([&] { info = vm.info(); }).status != HAL_OK) return std::nullopt;
  if (!info.contains("numaPlacement") || !info["numaPlacement"].is_array()) return std::nullopt;
  source = "info.numaPlacement";
  return static_cast<int>(info["numaPlacement"].size());
}

std::optional<int> guest_device_node(const Vm &vm, const std::string &name,
                                     const std::string &model, std::chrono::milliseconds timeout,
                                     std::string &source) {
  nlohmann::json info;
  if (outcome_of([&] { info = vm.info(); }).status == HAL_OK) {
    for (const auto &d : info.value("hostDevices", nlohmann::json::array())) {
      if (!d.is_object() || d.value("name", "") != name) continue;
      for (const char *key : {"guestNumaNode", "guestNode"}) {
        if (d.contains(key) && d[key].is_number_integer()) {
          source = std::string("info.hostDevices.") + key;
          return d[key].get<int>();
        }
      }
    }
  }
  if (auto path = console_socket(vm)) {
    // The guest prints PCI ids, not model names: map the emulated models the suite uses.
    std::string what = "(" + name + (model.empty() ? "" : "|" + model);
    if (model == "e1000e") what += "|vendor=0x8086 device=0x10d3";
    what += ")";
    std::regex pci("HAL-GUEST: pci \\S+ .*" + what + R"(.*numa_node=(-?\d+))");
    if (auto m = read_console_marker(*path, pci, timeout)) {
      source = "console";
      return std::stoi(m->back());
    }
  }
  return std::nullopt;
}

}  // namespace hal::conformance
