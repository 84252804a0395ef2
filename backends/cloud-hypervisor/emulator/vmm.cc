// vmm.cc - the emulated VMM: construction, the event monitor, request routing with the HTTP
// layer's own checks (method, body), vmm.ping, vm.info and vm.counters (see vmm.h).
#include "backends/cloud-hypervisor/emulator/vmm.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <map>

#include "backends/cloud-hypervisor/event_stream.h"
#include "core/host/host_topology.h"
#include "core/spec/json_schema_validator.h"

namespace hal::ch_emulator {
using hal::cloud_hypervisor::ChEvent;
using hal::cloud_hypervisor::format_event;
using nlohmann::json;

extern const char *const kChApiSchemaText;  // ch_api_schema.cc (generated)

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
    case State::kRunning:
      return "Running";
    case State::kPaused:
      return "Paused";
    default:
      return "Created";
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
  if (!known) return http_error(404, {"Not Found"});
  // A route answers only its own method; anything else is a bad request (never 405).
  if ((kGet.count(endpoint) != 0) != (verb == "GET")) return http_error(400, {"Bad Request"});
  json request;
  if (auto it = kBodies.find(endpoint); it != kBodies.end()) {
    if (body.empty()) return http_error(400, {"Bad Request"});
    request = json::parse(body, nullptr, false);
    if (request.is_discarded()) {
      return http_error(400, {"Failed to deserialize JSON", "the body is not valid JSON"});
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
      errors.insert(errors.begin(), "Failed to deserialize JSON");
      return http_error(400, errors);
    }
  } else if (verb == "PUT" && !body.empty()) {
    return http_error(400, {"Bad Request"});  // an action without a body got one
  }
  if (endpoint == "vmm.ping") {
    return {200, json({{"build_version", emulator_build_version(release_)},
                       {"version", std::to_string(release_.major) + "." +
                                       std::to_string(release_.minor) + ".0"},
                       {"pid", ::getpid()},
                       {"features", json(features_)}})
                     .dump()};
  }
  if (endpoint == "vmm.shutdown") return vmm_shutdown();
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

ApiResponse Vmm::info() {
  std::lock_guard<std::mutex> lock(mutex_);
  // During a migration (v53.0 on) the VM is immutable and the VMM answers what it was.
  if (migrating_ && !info_snapshot_.is_null()) return {200, info_snapshot_.dump()};
  if (state_ == State::kNone) {
    return api_error(404, "The VM info is not available", {vm_error::kNotCreated});
  }
  return {200, info_locked().dump()};
}

json Vmm::info_locked() const {
  json tree = json::object();
  if (has_vm_locked()) {
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
  }
  json out = {{"config", config_},
              {"state", state_name(state_)},
              {"memory_actual_size", memory_bytes(config_)}};
  if (has_vm_locked()) out["device_tree"] = tree;  // only a VM has devices
  return out;
}

ApiResponse Vmm::counters() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (migrating_) return api_error(500, "The VM info is not available", {vm_error::kMigrating});
  if (!has_vm_locked()) {
    return api_error(500, "The VM info is not available", {vm_error::kNotRunning});
  }
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

}  // namespace hal::ch_emulator
