// vmm_devices.cc - the emulated VMM's device and snapshot endpoints (see vmm.h), as Cloud
// Hypervisor answers them: vm.add-* validates the whole config with the device added (a duplicate
// id is a validation failure, 500), goes into the config alone when there is no VM (204) and is
// hot-plugged into a VM (200 with its PCI address), where opening it can fail (500);
// vm.remove-device of an unknown id is a 500; only a hot-unplug emits vm/device-removed.
#include <filesystem>
#include <fstream>

#include "backends/cloud-hypervisor/emulator/vmm.h"

namespace hal::ch_emulator {
namespace fs = std::filesystem;
using nlohmann::json;

ApiResponse Vmm::add_device(const std::string &kind, json device) {
  const std::string action = kind == "disks" ? "The disk could not be added to the VM"
                             : kind == "net" ? "The network device could not be added to the VM"
                                             : "The device could not be added to the VM";
  std::lock_guard<std::mutex> lock(mutex_);
  if (state_ == State::kNone) return api_error(404, action, {vm_error::kNotCreated});
  if (!device.contains("id")) {
    device["id"] =
        "_" + std::string(kind == "disks" ? "disk" : kind) + std::to_string(device_counter_++);
  }
  json candidate = config_;
  if (!candidate.contains(kind)) candidate[kind] = json::array();
  candidate[kind].push_back(device);
  std::vector<std::string> errors = validation_errors(candidate, context_);
  if (!errors.empty()) {
    errors.insert(errors.begin(), vm_error::kValidation);
    return api_error(500, action, errors);
  }
  if (migrating_) return api_error(500, action, {vm_error::kMigrating});
  if (!has_vm_locked()) {
    config_ = candidate;  // cold plug: the next boot has it
    return kNoContent;
  }
  if (kind == "disks") {
    if (auto e = disk_errors(device); !e.empty()) return api_error(500, action, e);
  }
  if (kind == "net") {
    if (auto e = net_errors(device); !e.empty()) return api_error(500, action, e);
  }
  config_ = candidate;
  char bdf[32];
  std::snprintf(bdf, sizeof bdf, "%04x:00:%02x.0", device.value("pci_segment", 0u),
                device_counter_ % 32);
  return {200, json({{"id", device["id"]}, {"bdf", bdf}}).dump()};
}

ApiResponse Vmm::remove_device(const std::string &id) {
  static const char *kAction = "The device could not be removed from the VM";
  std::lock_guard<std::mutex> lock(mutex_);
  if (migrating_) return api_error(500, kAction, {vm_error::kMigrating});
  if (state_ == State::kNone) return api_error(404, kAction, {vm_error::kNotCreated});
  for (const char *kind : {"disks", "net", "devices"}) {
    if (!config_.contains(kind)) continue;
    auto &list = config_[kind];
    for (auto it = list.begin(); it != list.end(); ++it) {
      if ((*it)["id"] != id) continue;
      const uint32_t segment = it->value("pci_segment", 0u);
      list.erase(it);
      if (has_vm_locked()) {
        char bdf[32];
        std::snprintf(bdf, sizeof bdf, "%04x:00:%02x.0", segment, 1u);
        emit("vm", "device-removed", {{"id", id}, {"bdf", bdf}});
      }
      return kNoContent;
    }
  }
  return api_error(500, kAction, {"No device with id \"" + id + "\" to remove"});
}

ApiResponse Vmm::snapshot(const std::string &url) {
  static const char *kAction = "The VM could not be snapshotted";
  std::lock_guard<std::mutex> lock(mutex_);
  if (migrating_) return api_error(500, kAction, {vm_error::kMigrating});
  if (!has_vm_locked()) return api_error(500, kAction, {vm_error::kNotRunning});
  emit("vm", "snapshotting");
  if (state_ != State::kPaused) {
    return api_error(500, kAction,
                     {"Cannot snapshot VM", "Failed to snapshot migratable component",
                      "Trying to snapshot while VM is running"});
  }
  if (url.rfind("file://", 0) != 0) {
    return api_error(500, kAction, {"Cannot send VM snapshot", "Invalid snapshot URL " + url});
  }
  fs::path dir = url.substr(7);
  std::error_code ec;
  fs::create_directories(dir, ec);
  GuestState g = guest_->state();
  std::ofstream(dir / "config.json") << config_.dump();
  std::ofstream(dir / "state.json")
      << json({{"boot_id", g.boot_id}, {"heartbeat", g.heartbeat}, {"uptime_ms", g.uptime_ms}})
             .dump();
  if (!std::ofstream(dir / "memory-ranges")) {
    return api_error(500, kAction, {"Cannot send VM snapshot", "Cannot write to " + url});
  }
  emit("vm", "snapshotted");
  return kNoContent;
}

ApiResponse Vmm::restore(const json &request) {
  static const char *kAction = "The VM could not be restored";
  const std::string url = request["source_url"];
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (migrating_) return api_error(500, kAction, {vm_error::kMigrating});
    if (state_ != State::kNone) return api_error(500, kAction, {vm_error::kAlreadyCreated});
  }
  if (url.rfind("file://", 0) != 0) return api_error(500, kAction, {"Invalid restore source URL"});
  fs::path dir = url.substr(7);
  std::ifstream config_file(dir / "config.json"), state_file(dir / "state.json");
  json config = json::parse(config_file, nullptr, false);
  json state = json::parse(state_file, nullptr, false);
  if (config.is_discarded() || state.is_discarded()) {
    return api_error(500, kAction, {"Cannot restore VM", "cannot read the snapshot in " + url});
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (state_ != State::kNone) return api_error(500, kAction, {vm_error::kAlreadyCreated});
  emit("vm", "restoring");
  config_ = config;
  GuestState g{state.value("boot_id", ""), state.value("heartbeat", uint64_t{0}),
               state.value("uptime_ms", uint64_t{0})};
  try {
    if (auto error = open_console_locked()) {
      throw std::runtime_error("Error creating console devices: " + *error);
    }
    start_guest_locked(&g);
  } catch (const std::exception &e) {
    stop_guest_locked();
    config_ = nullptr;
    return api_error(500, kAction, {"Cannot restore VM", e.what()});
  }
  const bool resume = request.value("resume", false);
  guest_->set_paused(!resume);
  state_ = resume ? State::kRunning : State::kPaused;
  emit("vm", "restored");
  return kNoContent;
}

}  // namespace hal::ch_emulator
