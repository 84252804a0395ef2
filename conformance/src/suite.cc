// suite.cc - shared state and helpers of the clause bodies (see suite.h).
#include "suite.h"

#include <gtest/gtest.h>

#include <thread>

#include "hal/host.hpp"
#include "hal/names.h"

namespace hal::conformance {

Suite &suite() {
  static Suite instance;
  return instance;
}

namespace {

// "vm_pause" -> "pause"-style names plugin.hpp's operations_json uses.
std::string camel_operation(std::string_view entry) {
  static const std::vector<std::pair<std::string, std::string>> names = {
      {"vm_pause", "pause"},
      {"vm_resume", "resume"},
      {"vm_shutdown", "shutdown"},
      {"vm_reboot", "reboot"},
      {"vm_reset", "reset"},
      {"vm_get_console", "console"},
      {"migration_prepare_incoming", "migrationPrepareIncoming"},
      {"migration_send", "migrationSend"},
      {"migration_get_progress", "migrationGetProgress"},
      {"migration_cancel", "migrationCancel"},
      {"vm_snapshot", "snapshot"},
      {"vm_restore", "restore"},
      {"vm_attach_device", "attachDevice"},
      {"vm_detach_device", "detachDevice"}};
  for (const auto &[snake, camel] : names) {
    if (snake == entry) return camel;
  }
  return std::string(entry);
}

}  // namespace

namespace {

// capabilities[key] when both are objects (a backend that could not be opened has none).
nlohmann::json capability_section(const nlohmann::json &capabilities, const char *key) {
  if (!capabilities.is_object()) return nlohmann::json::object();
  nlohmann::json section = capabilities.value(key, nlohmann::json::object());
  return section.is_object() ? section : nlohmann::json::object();
}

}  // namespace

bool Suite::declares_operation(std::string_view entry) const {
  const auto ops = capability_section(capabilities, "operations");
  for (const std::string &key : {std::string(entry), camel_operation(entry)}) {
    auto it = ops.find(key);
    if (it != ops.end() && it->is_boolean()) return it->get<bool>();
  }
  return false;
}

bool Suite::declares_feature(std::string_view name) const {
  const auto features = capability_section(capabilities, "features");
  auto it = features.find(std::string(name));
  return it != features.end() && it->is_boolean() && it->get<bool>();
}

bool Suite::declares(std::string_view capability) const {
  if (capability.starts_with("operations.")) {
    return declares_operation(capability.substr(11));
  }
  if (capability.starts_with("features.")) return declares_feature(capability.substr(9));
  return true;
}

std::string Suite::vm_name(std::string_view tag) {
  std::lock_guard lock(mu_);
  std::string name = "c-" + run_id + "-" + std::string(tag) + "-" + std::to_string(++counter_);
  if (name.size() > 63) name = name.substr(name.size() - 63);
  return name;
}

nlohmann::json Suite::spec(const std::string &name, const nlohmann::json &overrides) const {
  nlohmann::json spec = {{"apiVersion", "hal.dev/v1"},
                         {"name", name},
                         {"cpu", {{"vcpus", 1}}},
                         {"memory", {{"size", "256Mi"}}}};
  merge_into(spec, spec_template);
  merge_into(spec, overrides);
  spec["name"] = name;
  return spec;
}

Backend Suite::open() const {
  return Backend::open(plugin, config);
}

Backend Suite::open_target() const {
  return Backend::open(plugin, target_config);
}

std::vector<int> Suite::host_cpus() const {
  std::vector<int> cpus;
  if (host_info.contains("onlineCpus") && host_info["onlineCpus"].is_array()) {
    for (const auto &c : host_info["onlineCpus"]) cpus.push_back(c.get<int>());
  }
  if (cpus.empty()) {
    for (int i = 0; i < host_info.value("cpus", 1); ++i) cpus.push_back(i);
  }
  return cpus;
}

std::vector<std::pair<int, std::vector<int>>> Suite::host_nodes() const {
  std::vector<std::pair<int, std::vector<int>>> nodes;
  for (const auto &n : host_info.value("numaNodes", nlohmann::json::array())) {
    std::vector<int> cpus;
    for (const auto &c : n.value("cpus", nlohmann::json::array())) cpus.push_back(c.get<int>());
    nodes.emplace_back(n.value("id", 0), cpus);
  }
  return nodes;
}

bool Suite::host_tdx() const {
  return host_info.contains("tdx") && host_info["tdx"].value("supported", false);
}

void merge_into(nlohmann::json &target, const nlohmann::json &patch) {
  if (!patch.is_object() || !target.is_object()) {
    target = patch;
    return;
  }
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    if (it.value().is_object() && target.contains(it.key()) && target[it.key()].is_object()) {
      merge_into(target[it.key()], it.value());
    } else {
      target[it.key()] = it.value();
    }
  }
}

void merge_under(nlohmann::json &target, const nlohmann::json &base) {
  if (!base.is_object() || !target.is_object()) return;
  for (auto it = base.begin(); it != base.end(); ++it) {
    if (!target.contains(it.key())) {
      target[it.key()] = it.value();
    } else if (target[it.key()].is_object() && it.value().is_object()) {
      merge_under(target[it.key()], it.value());
    }
  }
}

std::string Outcome::str() const {
  if (status == HAL_OK) return "OK";
  return std::string(status_name(status)) + ": " + message;
}

Outcome outcome_of(const std::function<void()> &fn) {
  try {
    fn();
    return {};
  } catch (const Error &e) {
    return {e.status(), e.what()};
  } catch (const std::exception &e) {
    return {HAL_INTERNAL, std::string("exception: ") + e.what()};
  }
}

std::string state_name(hal_vm_state state) {
  return hal_vm_state_name(state);
}

hal_vm_state wait_state(const Vm &vm, hal_vm_state want, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  hal_vm_state last = HAL_VM_STATE_UNKNOWN;
  while (true) {
    Outcome o = outcome_of([&] { last = vm.state(); });
    if (o.status == HAL_OK && last == want) return last;
    if (std::chrono::steady_clock::now() >= deadline) return last;
    sleep_ms(10);
  }
}

void sleep_ms(int64_t ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

Cleanup::~Cleanup() {
  for (const auto &id : ids_) {
    try {
      Vm vm = backend_->lookup(id);
      outcome_of([&] { vm.force_stop(); });
      outcome_of([&] { vm.delete_vm(); });
    } catch (...) {  // already gone
    }
  }
}

int remove_run_vms() {
  Suite &s = suite();
  const std::string prefix = "c-" + s.run_id + "-";
  int removed = 0;
  for (const nlohmann::json *config : {&s.config, &s.target_config}) {
    Backend backend = config == &s.config ? s.open() : s.open_target();
    for (const auto &vm : backend.list().value("vms", nlohmann::json::array())) {
      const std::string id = vm.value("id", "");
      if (id.rfind(prefix, 0) != 0) continue;
      Cleanup cleanup(backend);
      cleanup.add(id);
      ++removed;
    }
  }
  return removed;
}

Vm create_vm(Backend &backend, Cleanup &cleanup, const std::string &tag,
             const nlohmann::json &overrides, uint32_t flags) {
  std::string name = suite().vm_name(tag);
  cleanup.add(name);
  return backend.create(suite().spec(name, overrides), flags);
}

Vm running_vm(Backend &backend, Cleanup &cleanup, const std::string &tag) {
  Vm vm = create_vm(backend, cleanup, tag);
  vm.start();
  EXPECT_EQ(state_name(wait_state(vm, HAL_VM_STATE_RUNNING, suite().wait)), "Running")
      << "VM " << vm.id() << " did not reach Running after vm_start";
  return vm;
}

RawBackend::RawBackend(const nlohmann::json &config) {
  ErrorBuffer err;
  std::string text = config.dump();
  hal_status st = guarded_call("open", err.get(), [&] {
    return table().open(text.c_str(), nullptr, nullptr, 0, &backend_, err.get());
  });
  if (st != HAL_OK || backend_ == nullptr) {
    ADD_FAILURE() << "open(" << text << ") failed: " << status_name(st) << ": " << err.message();
    backend_ = nullptr;
  }
}

RawBackend::~RawBackend() {
  if (backend_ == nullptr) return;
  ErrorBuffer err;
  hal_status st =
      guarded_call("close", err.get(), [&] { return table().close(backend_, 0, err.get()); });
  if (st != HAL_OK) ADD_FAILURE() << "close failed: " << status_name(st) << ": " << err.message();
}

Outcome RawBackend::create(const char *spec_json, uint32_t flags, hal_vm **out) {
  ErrorBuffer err;
  hal_vm *vm = nullptr;
  hal_status st = guarded_call("vm_create", err.get(), [&] {
    return table().vm_create(backend_, spec_json, flags, &vm, err.get());
  });
  if (out != nullptr) {
    *out = vm;
  } else if (vm != nullptr) {
    table().vm_release(vm);
  }
  return {st, std::string(err.message())};
}

hal_vm *RawBackend::lookup(const std::string &id) {
  ErrorBuffer err;
  hal_vm *vm = nullptr;
  hal_status st = guarded_call("vm_lookup", err.get(), [&] {
    return table().vm_lookup(backend_, id.c_str(), 0, &vm, err.get());
  });
  return st == HAL_OK ? vm : nullptr;
}

void RawBackend::remove(const std::string &id) {
  hal_vm *vm = lookup(id);
  if (vm == nullptr) return;
  ErrorBuffer err;
  guarded_call("vm_force_stop", err.get(), [&] { return table().vm_force_stop(vm, 0, err.get()); });
  guarded_call("vm_delete", err.get(), [&] { return table().vm_delete(vm, 0, err.get()); });
  release(vm);
}

nlohmann::json RawBackend::list() {
  ErrorBuffer err;
  OwnedString out(table().free_string);
  hal_status st = guarded_call("vm_list", err.get(),
                               [&] { return table().vm_list(backend_, 0, out.out(), err.get()); });
  if (st != HAL_OK || !out) return nlohmann::json::object();
  return nlohmann::json::parse(out.view(), nullptr, false);
}

void RawBackend::release(hal_vm *vm) {
  if (vm != nullptr) table().vm_release(vm);
}

bool list_has(const nlohmann::json &list, const std::string &id) {
  if (!list.is_object() || !list.contains("vms") || !list["vms"].is_array()) return false;
  for (const auto &v : list["vms"]) {
    if (v.is_object() && v.value("id", "") == id) return true;
  }
  return false;
}

}  // namespace hal::conformance
