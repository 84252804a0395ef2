// vmm.cc - the emulated VMM (see vmm.h).
#include "backends/cloud-hypervisor/emulator/vmm.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "backends/cloud-hypervisor/emulator/migration_wire.h"
#include "backends/cloud-hypervisor/event_stream.h"
#include "core/host/host_topology.h"
#include "core/spec/json_schema_validator.h"

namespace hal::ch_emulator {
namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;
using hal::cloud_hypervisor::ChEvent;
using hal::cloud_hypervisor::format_event;

extern const char *const kChApiSchemaText;  // ch_api_schema.cc (generated)

namespace {
ApiResponse error(int status, const std::vector<std::string> &chain) {
  return {status, json(chain).dump()};
}
ApiResponse error(int status, const std::string &message) {
  return error(status, std::vector<std::string>{message});
}
}  // namespace

uint64_t memory_bytes(const json &config) {
  const json memory = config.value("memory", json::object());
  uint64_t total = memory.value("size", uint64_t{0});
  for (const auto &z : memory.value("zones", json::array())) total += z["size"].get<uint64_t>();
  return total;
}

std::vector<std::string> schema_errors(const std::string &def, const json &body) {
  static const json root = json::parse(kChApiSchemaText);
  static std::mutex m;
  static std::map<std::string, json> docs;
  const json *doc;
  {
    std::lock_guard<std::mutex> lock(m);
    auto it = docs.find(def);
    if (it == docs.end()) {
      json d = {{"$ref", "#/$defs/" + def}, {"$defs", root["$defs"]}};
      it = docs.emplace(def, std::move(d)).first;
    }
    doc = &it->second;
  }
  hal::JsonSchemaValidator validator(*doc);
  std::vector<std::string> out;
  for (const auto &e : validator.validate(body, def)) out.push_back(e.path + ": " + e.message);
  return out;
}

std::string emulator_build_version(ChVersion release) {
  return release.str() + "-hal-ch-emulator";
}

Vmm::Vmm(ChVersion release, std::string event_monitor_path, std::set<std::string> features,
         std::function<void()> exit)
    : release_(release),
      event_path_(std::move(event_monitor_path)),
      features_(std::move(features)),
      exit_(std::move(exit)) {
  if (!event_path_.empty()) {
    event_fd_ = ::open(event_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  }
  context_ = host_context();
  context_.features = features_;
  context_.kvm_tdx = hal::detect_tdx("/").supported;
  abort_fd_ = ::eventfd(0, EFD_CLOEXEC);
  emit("vmm", "starting");
}

Vmm::~Vmm() {
  if (migration_worker_.joinable()) migration_worker_.join();
  std::lock_guard<std::mutex> lock(mutex_);
  stop_guest_locked();
  if (event_fd_ >= 0) ::close(event_fd_);
  if (abort_fd_ >= 0) ::close(abort_fd_);
}

void Vmm::emit(const std::string &source, const std::string &event,
               std::map<std::string, std::string> properties) {
  if (event_fd_ < 0) return;
  ChEvent e;
  e.since_start_ns = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                               std::chrono::steady_clock::now() - started_)
                                               .count());
  e.source = source;
  e.event = event;
  e.properties = std::move(properties);
  std::string text = format_event(e);
  std::lock_guard<std::mutex> lock(event_mutex_);
  (void)!::write(event_fd_, text.data(), text.size());
}

const char *Vmm::state_name(State state) {
  switch (state) {
    case State::kCreated:
      return "Created";
    case State::kRunning:
      return "Running";
    case State::kPaused:
      return "Paused";
    case State::kShutdown:
      return "Shutdown";
    default:
      return "None";
  }
}

ApiResponse Vmm::handle(const std::string &verb, const std::string &endpoint,
                        const std::string &body) {
  static const std::set<std::string> kGet = {"vmm.ping", "vm.info", "vm.counters"};
  static const std::map<std::string, std::string> kBodies = {
      {"vm.create", "VmConfig"},
      {"vm.add-disk", "DiskConfig"},
      {"vm.add-net", "NetConfig"},
      {"vm.add-device", "DeviceConfig"},
      {"vm.remove-device", "VmRemoveDevice"},
      {"vm.snapshot", "VmSnapshotConfig"},
      {"vm.restore", "RestoreConfig"},
      {"vm.send-migration", "SendMigrationData"},
      {"vm.receive-migration", "ReceiveMigrationData"}};
  static const std::set<std::string> kPut = {"vmm.shutdown",    "vm.boot",     "vm.pause",
                                             "vm.resume",       "vm.shutdown", "vm.reboot",
                                             "vm.power-button", "vm.delete"};
  const bool known = kGet.count(endpoint) || kBodies.count(endpoint) || kPut.count(endpoint);
  if (!known) return error(404, "Unknown endpoint /api/v1/" + endpoint);
  if ((kGet.count(endpoint) != 0) != (verb == "GET")) {
    return error(405, "Method " + verb + " not allowed on /api/v1/" + endpoint);
  }
  json request;
  if (auto it = kBodies.find(endpoint); it != kBodies.end()) {
    request = json::parse(body, nullptr, false);
    if (body.empty() || request.is_discarded()) {
      return error(400, "Error parsing request body: invalid JSON");
    }
    std::vector<std::string> errors = schema_errors(it->second, request);
    if (endpoint == "vm.send-migration" && !has_migration_limits(release_)) {
      // Stricter than the VMM, which ignores fields it does not know: a client relying on
      // them before they existed is caught.
      for (const char *field : {"downtime_ms", "timeout_s", "timeout_strategy", "connections"}) {
        if (request.contains(field)) {
          errors.push_back(std::string("/") + field + ": unknown field before v52.0 (" +
                           release_.str() + " would silently ignore it)");
        }
      }
    }
    if (!errors.empty()) {
      errors.insert(errors.begin(), "Invalid " + it->second);
      return error(400, errors);
    }
  }
  if (endpoint == "vmm.ping") {
    return {200, json({{"build_version", emulator_build_version(release_)},
                       {"version", std::to_string(release_.major) + "." +
                                       std::to_string(release_.minor) + ".0"},
                       {"pid", ::getpid()},
                       {"features", json(features_)}})
                     .dump()};
  }
  if (endpoint == "vmm.shutdown") {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_guest_locked();
      state_ = State::kNone;
    }
    uint64_t one = 1;
    (void)!::write(abort_fd_, &one, sizeof one);
    emit("vmm", "shutdown");
    exit_();
    return kNoContent;
  }
  if (endpoint == "vm.create") return create(request);
  if (endpoint == "vm.boot") return boot();
  if (endpoint == "vm.pause") return pause();
  if (endpoint == "vm.resume") return resume();
  if (endpoint == "vm.shutdown") return shutdown();
  if (endpoint == "vm.reboot") return reboot();
  if (endpoint == "vm.power-button") return power_button();
  if (endpoint == "vm.delete") return remove();
  if (endpoint == "vm.info") return info();
  if (endpoint == "vm.counters") return counters();
  if (endpoint == "vm.add-disk") return add_device("disks", request);
  if (endpoint == "vm.add-net") return add_device("net", request);
  if (endpoint == "vm.add-device") return add_device("devices", request);
  if (endpoint == "vm.remove-device") return remove_device(request["id"]);
  if (endpoint == "vm.snapshot") return snapshot(request["destination_url"]);
  if (endpoint == "vm.restore") return restore(request);
  if (endpoint == "vm.send-migration") return send_migration(request);
  return receive_migration(request);
}

json Vmm::normalized(json config) const {
  if (!config.contains("cpus")) config["cpus"] = {{"boot_vcpus", 1}, {"max_vcpus", 1}};
  if (!config.contains("memory")) config["memory"] = {{"size", 512u << 20}};
  if (!config.contains("serial")) config["serial"] = {{"mode", "Null"}};
  if (!config.contains("console")) config["console"] = {{"mode", "Tty"}};
  int n = 0;
  for (const char *kind : {"disks", "net", "devices"}) {
    if (!config.contains(kind)) continue;
    for (auto &d : config[kind]) {
      if (!d.contains("id")) {
        d["id"] =
            std::string("_") + (std::string(kind) == "disks" ? "disk" : kind) + std::to_string(n++);
      }
    }
  }
  return config;
}

ApiResponse Vmm::create(const json &config) {
  std::vector<std::string> errors = create_errors(config, context_);
  if (!errors.empty()) {
    errors.insert(errors.begin(), "Error creating VM: invalid configuration");
    return error(400, errors);
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (state_ != State::kNone) return error(500, "Error creating VM: VM is already created");
  config_ = normalized(config);
  state_ = State::kCreated;
  device_counter_ = 100;
  emit("vm", "created");
  return kNoContent;
}

void Vmm::start_guest_locked(const GuestState *resumed) {
  const json serial = config_.value("serial", json{{"mode", "Null"}});
  const std::string mode = serial["mode"];
  if (mode == "Socket" || mode == "File" || mode == "Tty") {
    serial_ = std::make_shared<SerialPort>(
        mode, mode == "Socket" ? serial.value("socket", "") : serial.value("file", ""));
  }
  guest_ = std::make_unique<SimulatedGuest>(
      config_, serial_, [this] { on_guest_power_off(); }, resumed);
}

void Vmm::stop_guest_locked() {
  guest_.reset();
  serial_.reset();
}

void Vmm::on_guest_power_off() {
  // The guest thread cannot join itself: tear down from a detached thread, like the VMM's exit
  // event handler does.
  std::thread([this] {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_guest_locked();
      state_ = State::kShutdown;
    }
    emit("vm", "shutdown");
    emit("vmm", "shutdown");
    exit_();
  }).detach();
}

ApiResponse Vmm::boot() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (state_ == State::kNone) return error(404, "Error booting VM: VM is not created");
  if (state_ == State::kRunning || state_ == State::kPaused) {
    return error(405, "Error booting VM: VM is already booted");
  }
  std::vector<std::string> errors = boot_errors(config_, context_);
  if (!errors.empty()) {
    errors.insert(errors.begin(), "Error booting VM");
    return error(500, errors);
  }
  emit("vm", "booting");
  try {
    start_guest_locked(nullptr);
  } catch (const std::exception &e) {
    stop_guest_locked();
    return error(500, std::vector<std::string>{"Error booting VM", e.what()});
  }
  state_ = State::kRunning;
  emit("vm", "booted");
  return kNoContent;
}

ApiResponse Vmm::pause() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (state_ == State::kNone) return error(404, "Error pausing VM: VM is not created");
  if (migrating_) return error(500, "Error pausing VM: VM is being migrated");
  if (state_ != State::kRunning) {
    return error(405, std::string("Error pausing VM: invalid transition from ") +
                          state_name(state_) + " to Paused");
  }
  emit("vm", "pausing");
  guest_->set_paused(true);
  state_ = State::kPaused;
  emit("vm", "paused");
  return kNoContent;
}

ApiResponse Vmm::resume() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (state_ == State::kNone) return error(404, "Error resuming VM: VM is not created");
  if (migrating_) return error(500, "Error resuming VM: VM is being migrated");
  if (state_ != State::kPaused) {
    return error(405, std::string("Error resuming VM: invalid transition from ") +
                          state_name(state_) + " to Running");
  }
  emit("vm", "resuming");
  guest_->set_paused(false);
  state_ = State::kRunning;
  emit("vm", "resumed");
  return kNoContent;
}

ApiResponse Vmm::shutdown() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (state_ == State::kNone) return error(404, "Error shutting down VM: VM is not created");
  if (migrating_) return error(500, "Error shutting down VM: VM is being migrated");
  if (state_ == State::kShutdown) {
    return error(405, "Error shutting down VM: invalid transition from Shutdown to Shutdown");
  }
  stop_guest_locked();
  state_ = State::kShutdown;
  emit("vm", "shutdown");
  return kNoContent;
}

ApiResponse Vmm::reboot() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (state_ == State::kNone) return error(404, "Error rebooting VM: VM is not created");
  if (migrating_) return error(500, "Error rebooting VM: VM is being migrated");
  if (state_ != State::kRunning) {
    return error(405, std::string("Error rebooting VM: VM is ") + state_name(state_));
  }
  emit("vm", "rebooting");
  guest_->reboot();
  emit("vm", "rebooted");
  return kNoContent;
}

ApiResponse Vmm::power_button() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (state_ == State::kNone) return error(404, "Error triggering power button: VM is not created");
  if (state_ != State::kRunning && state_ != State::kPaused) {
    return error(405, std::string("Error triggering power button: VM is ") + state_name(state_));
  }
  guest_->power_button();
  emit("vm", "power-button");
  return kNoContent;
}

ApiResponse Vmm::remove() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (migrating_) return error(500, "Error deleting VM: VM is being migrated");
  if (state_ == State::kNone) return kNoContent;
  stop_guest_locked();
  if (state_ == State::kRunning || state_ == State::kPaused) emit("vm", "shutdown");
  state_ = State::kNone;
  config_ = nullptr;
  emit("vm", "deleted");
  return kNoContent;
}

ApiResponse Vmm::info() {
  std::lock_guard<std::mutex> lock(mutex_);
  // During a migration (v53.0 on) the VM is immutable and the VMM answers what it was.
  if (migrating_ && !info_snapshot_.is_null()) return {200, info_snapshot_.dump()};
  if (state_ == State::kNone) return error(404, "VM is not created");
  return {200, info_locked().dump()};
}

json Vmm::info_locked() const {
  json tree = json::object();
  int slot = 1;
  for (const char *kind : {"disks", "net", "devices"}) {
    for (const auto &d : config_.value(kind, json::array())) {
      char bdf[32];
      std::snprintf(bdf, sizeof bdf, "%04x:00:%02x.0", d.value("pci_segment", 0u), slot++);
      tree[d["id"].get<std::string>()] = {{"id", d["id"]},
                                          {"resources", json::array()},
                                          {"children", json::array()},
                                          {"pci_bdf", bdf}};
    }
  }
  return {{"config", config_},
          {"state", state_name(state_)},
          {"memory_actual_size", memory_bytes(config_)},
          {"device_tree", tree}};
}

ApiResponse Vmm::counters() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (state_ == State::kNone) return error(404, "VM is not created");
  json out = json::object();
  for (const auto &d : config_.value("disks", json::array())) {
    out[d["id"].get<std::string>()] = {
        {"read_bytes", 0}, {"write_bytes", 0}, {"read_ops", 0}, {"write_ops", 0}};
  }
  for (const auto &n : config_.value("net", json::array())) {
    out[n["id"].get<std::string>()] = {
        {"rx_bytes", 0}, {"tx_bytes", 0}, {"rx_frames", 0}, {"tx_frames", 0}};
  }
  return {200, out.dump()};
}

ApiResponse Vmm::add_device(const std::string &kind, json device) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (state_ == State::kNone) return error(404, "Error adding device: VM is not created");
  if (migrating_) return error(500, "Error adding device: VM is being migrated");
  if (!device.contains("id")) {
    device["id"] =
        "_" + std::string(kind == "disks" ? "disk" : kind) + std::to_string(device_counter_++);
  }
  json candidate = config_;
  if (!candidate.contains(kind)) candidate[kind] = json::array();
  candidate[kind].push_back(device);
  std::vector<std::string> errors = create_errors(candidate, context_);
  for (const auto &e : errors) {
    if (e.find("duplicate device identifier") != std::string::npos) return error(409, e);
  }
  if (!errors.empty()) return error(400, errors);
  if (kind == "disks" && device.contains("path") &&
      ::access(device["path"].get<std::string>().c_str(), R_OK) != 0) {
    return error(500, "Error adding disk: cannot open " + device["path"].get<std::string>());
  }
  config_ = candidate;
  emit("vm", "device-added", {{"id", device["id"]}});
  if (state_ == State::kCreated || state_ == State::kShutdown) return kNoContent;
  char bdf[32];
  std::snprintf(bdf, sizeof bdf, "%04x:00:%02x.0", device.value("pci_segment", 0u),
                device_counter_ % 32);
  return {200, json({{"id", device["id"]}, {"bdf", bdf}}).dump()};
}

ApiResponse Vmm::remove_device(const std::string &id) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (state_ == State::kNone) return error(404, "Error removing device: VM is not created");
  for (const char *kind : {"disks", "net", "devices"}) {
    if (!config_.contains(kind)) continue;
    auto &list = config_[kind];
    for (auto it = list.begin(); it != list.end(); ++it) {
      if ((*it)["id"] == id) {
        list.erase(it);
        emit("vm", "device-removed", {{"id", id}});
        return kNoContent;
      }
    }
  }
  return error(404, "Error removing device: no device with identifier '" + id + "'");
}

ApiResponse Vmm::snapshot(const std::string &url) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (state_ == State::kNone) return error(404, "Error snapshotting VM: VM is not created");
  if (state_ != State::kPaused) {
    return error(405, "Error snapshotting VM: VM is not paused");
  }
  if (url.rfind("file://", 0) != 0) return error(500, "Invalid snapshot URL '" + url + "'");
  fs::path dir = url.substr(7);
  std::error_code ec;
  fs::create_directories(dir, ec);
  GuestState g = guest_->state();
  std::ofstream(dir / "config.json") << config_.dump();
  std::ofstream(dir / "state.json")
      << json({{"boot_id", g.boot_id}, {"heartbeat", g.heartbeat}, {"uptime_ms", g.uptime_ms}})
             .dump();
  if (!std::ofstream(dir / "memory-ranges")) return error(500, "Cannot write snapshot to " + url);
  emit("vm", "snapshotted");
  return kNoContent;
}

ApiResponse Vmm::restore(const json &request) {
  std::string url = request["source_url"];
  if (url.rfind("file://", 0) != 0) return error(400, "Invalid restore URL '" + url + "'");
  fs::path dir = url.substr(7);
  std::ifstream config_file(dir / "config.json"), state_file(dir / "state.json");
  json config = json::parse(config_file, nullptr, false);
  json state = json::parse(state_file, nullptr, false);
  if (config.is_discarded() || state.is_discarded()) {
    return error(500, "Error restoring VM: cannot read snapshot in " + dir.string());
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (state_ != State::kNone) return error(404, "Error restoring VM: VM is already created");
  config_ = config;
  GuestState g{state.value("boot_id", ""), state.value("heartbeat", uint64_t{0}),
               state.value("uptime_ms", uint64_t{0})};
  try {
    start_guest_locked(&g);
  } catch (const std::exception &e) {
    stop_guest_locked();
    return error(500, std::vector<std::string>{"Error restoring VM", e.what()});
  }
  const bool resume = request.value("resume", false);
  guest_->set_paused(!resume);
  state_ = resume ? State::kRunning : State::kPaused;
  emit("vm", "restored");
  return kNoContent;
}

}  // namespace hal::ch_emulator
