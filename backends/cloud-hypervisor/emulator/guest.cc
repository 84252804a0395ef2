// guest.cc - the simulated guest (see guest.h).
#include "backends/cloud-hypervisor/emulator/guest.h"

#include <pthread.h>
#include <sched.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <stdexcept>

namespace hal::ch_emulator {
using namespace std::chrono_literals;

namespace {
constexpr auto kHeartbeatPeriod = 100ms;

std::vector<uint32_t> ids(const nlohmann::json &array) {
  std::vector<uint32_t> out;
  if (array.is_array()) {
    for (const auto &v : array) out.push_back(v.get<uint32_t>());
  }
  return out;
}
std::string join(const std::vector<uint32_t> &v) {
  std::string out;
  for (uint32_t x : v) out += (out.empty() ? "" : ",") + std::to_string(x);
  return out;
}
}  // namespace

std::string new_boot_id() {
  static std::mt19937_64 rng{std::random_device{}()};
  static std::mutex m;
  std::lock_guard<std::mutex> lock(m);
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
  return buf;
}

SimulatedGuest::SimulatedGuest(const nlohmann::json &config, std::shared_ptr<SerialPort> serial,
                               PowerOffFn on_power_off, PowerOffFn on_panic,
                               const GuestState *resumed)
    : config_(config),
      serial_(std::move(serial)),
      on_power_off_(std::move(on_power_off)),
      on_panic_(std::move(on_panic)) {
  const std::string cmdline =
      config_.value("payload", nlohmann::json::object()).value("cmdline", "");
  if (size_t at = cmdline.find("hal.panic_after="); at != std::string::npos) {
    panic_after_ = std::chrono::milliseconds(
        static_cast<int64_t>(std::atof(cmdline.c_str() + at + 16) * 1000));
  }
  const uint32_t boot_vcpus = config_["cpus"].value("boot_vcpus", 1u);
  std::vector<std::vector<uint32_t>> affinity(boot_vcpus);
  for (const auto &a : config_["cpus"].value("affinity", nlohmann::json::array())) {
    uint32_t v = a["vcpu"].get<uint32_t>();
    if (v < boot_vcpus) affinity[v] = ids(a["host_cpus"]);
  }
  for (uint32_t v = 0; v < boot_vcpus; ++v) {
    vcpus_.emplace_back([this] { vcpu_loop(); });
    std::string name = "vcpu" + std::to_string(v);
    pthread_setname_np(vcpus_.back().native_handle(), name.c_str());
    if (!affinity[v].empty()) {
      cpu_set_t set;
      CPU_ZERO(&set);
      for (uint32_t cpu : affinity[v]) CPU_SET(cpu, &set);
      if (int rc = pthread_setaffinity_np(vcpus_.back().native_handle(), sizeof set, &set);
          rc != 0) {
        {
          std::lock_guard<std::mutex> lock(mutex_);
          stop_ = true;
        }
        cv_.notify_all();
        for (auto &t : vcpus_) t.join();
        throw std::runtime_error("Failed setting vCPU " + std::to_string(v) +
                                 " affinity: " + std::strerror(rc));
      }
    }
  }
  std::lock_guard<std::mutex> lock(mutex_);
  last_tick_ = std::chrono::steady_clock::now();
  if (resumed != nullptr) {
    state_ = *resumed;
  } else {
    state_.boot_id = new_boot_id();
    print_boot_locked();
  }
  main_ = std::thread([this] { run(); });
}

SimulatedGuest::~SimulatedGuest() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  if (main_.joinable()) main_.join();
  for (auto &t : vcpus_) t.join();
}

void SimulatedGuest::vcpu_loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait(lock, [this] { return stop_; });
}

void SimulatedGuest::print_boot_locked() {
  if (!serial_) return;
  const auto &cpus = config_["cpus"];
  serial_->write_line("HAL-GUEST: ready boot_id=" + state_.boot_id + " uptime=0");
  serial_->write_line("HAL-GUEST: cpus=" + std::to_string(cpus.value("boot_vcpus", 1u)));
  const auto numa = config_.value("numa", nlohmann::json::array());
  serial_->write_line("HAL-GUEST: numa nodes=" + std::to_string(numa.empty() ? 1 : numa.size()));
  for (const auto &node : numa) {
    uint64_t kb = 0;
    for (const auto &zone_id : node.value("memory_zones", nlohmann::json::array())) {
      for (const auto &zone : config_["memory"].value("zones", nlohmann::json::array())) {
        if (zone["id"] == zone_id) kb += zone["size"].get<uint64_t>() / 1024;
      }
    }
    serial_->write_line("HAL-GUEST: numa node=" + std::to_string(node["guest_numa_id"].get<int>()) +
                        " cpus=" + join(ids(node.value("cpus", nlohmann::json::array()))) +
                        " memory_kb=" + std::to_string(kb));
  }
  // Devices: one virtio function per disk/net/device, on its PCI segment.
  std::map<uint32_t, int> segment_node;
  for (const auto &node : numa) {
    for (uint32_t s : ids(node.value("pci_segments", nlohmann::json::array()))) {
      segment_node[s] = node["guest_numa_id"].get<int>();
    }
  }
  int slot = 1;
  auto pci = [&](const nlohmann::json &dev, const char *device_id) {
    uint32_t segment = dev.value("pci_segment", 0u);
    char bdf[32];
    std::snprintf(bdf, sizeof bdf, "%04x:00:%02x.0", segment, slot++);
    int node = segment_node.count(segment) ? segment_node[segment] : -1;
    serial_->write_line(
        std::string("HAL-GUEST: pci ") + bdf + " vendor=0x1af4 device=" + device_id +
        " class=0x000000 numa_node=" + std::to_string(node) + " id=" + dev.value("id", ""));
  };
  for (const auto &d : config_.value("disks", nlohmann::json::array())) pci(d, "0x1042");
  for (const auto &d : config_.value("net", nlohmann::json::array())) pci(d, "0x1041");
  for (const auto &d : config_.value("devices", nlohmann::json::array())) pci(d, "0x0000");
  serial_->write_line("HAL-GUEST: info-done");
}

void SimulatedGuest::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stop_) {
    cv_.wait_for(lock, kHeartbeatPeriod);
    if (stop_) break;
    auto now = std::chrono::steady_clock::now();
    if (!paused_) {
      state_.uptime_ms +=
          std::chrono::duration_cast<std::chrono::milliseconds>(now - last_tick_).count();
    }
    last_tick_ = now;
    if (paused_ || panicked_) continue;
    if (panic_after_ && std::chrono::milliseconds(state_.uptime_ms) >= *panic_after_) {
      // The kernel stops: no more output but the panic message, the vCPUs halt.
      panicked_ = true;
      if (serial_) serial_->write_line("Kernel panic - not syncing: hal.panic_after");
      PowerOffFn fn = on_panic_;
      lock.unlock();
      if (fn) fn();
      lock.lock();
      continue;
    }
    if (power_off_pending_) {
      power_off_pending_ = false;
      PowerOffFn fn = on_power_off_;
      lock.unlock();
      if (fn) fn();
      lock.lock();
      continue;
    }
    ++state_.heartbeat;
    if (serial_) {
      serial_->write_line("HAL-GUEST: heartbeat " + std::to_string(state_.heartbeat) + " boot_id=" +
                          state_.boot_id + " uptime_ms=" + std::to_string(state_.uptime_ms));
    }
  }
}

void SimulatedGuest::set_paused(bool paused) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto now = std::chrono::steady_clock::now();
  if (!paused_) {
    state_.uptime_ms +=
        std::chrono::duration_cast<std::chrono::milliseconds>(now - last_tick_).count();
  }
  last_tick_ = now;
  paused_ = paused;
}

void SimulatedGuest::power_button() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (serial_) serial_->write_line("HAL-GUEST: powerdown");
  power_off_pending_ = true;
}

void SimulatedGuest::reboot() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (serial_) serial_->write_line("HAL-GUEST: reboot");
  state_.boot_id = new_boot_id();
  state_.heartbeat = 0;
  state_.uptime_ms = 0;
  panicked_ = false;
  last_tick_ = std::chrono::steady_clock::now();
  print_boot_locked();
}

GuestState SimulatedGuest::state() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return state_;
}

}  // namespace hal::ch_emulator
