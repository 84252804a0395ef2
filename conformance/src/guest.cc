// guest.cc - console marker reading and info-based guest observation (see guest.h).
#include "guest.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

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
                                                            std::chrono::milliseconds timeout,
                                                            std::string *last_line) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::nullopt;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (::connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return std::nullopt;
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string buffer;
  std::optional<std::vector<std::string>> result;
  while (!result) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    char chunk[4096];
    ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n <= 0) break;
    buffer.append(chunk, static_cast<size_t>(n));
    size_t nl;
    while ((nl = buffer.find('\n')) != std::string::npos) {
      std::string line = buffer.substr(0, nl);
      buffer.erase(0, nl + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (last_line != nullptr) *last_line = line;
      std::smatch m;
      if (std::regex_search(line, m, pattern)) {
        result.emplace();
        for (const auto &group : m) result->push_back(group.str());
        break;
      }
    }
  }
  ::close(fd);
  return result;
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
