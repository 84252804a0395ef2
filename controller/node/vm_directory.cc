// vm_directory.cc - VM id -> backend map of a node (see vm_directory.h).
#include "controller/node/vm_directory.h"

#include "controller/node/wire.h"
#include "hal/names.h"

namespace hal::node {

VmDirectory::VmDirectory(std::vector<LoadedBackend> &backends) : backends_(backends) {
  const int64_t now = now_unix_ms();
  for (LoadedBackend &backend : backends_) {
    nlohmann::json listed = backend.backend->list();
    for (const auto &vm : listed.value("vms", nlohmann::json::array()))
      vms_[vm.value("id", "")] = Entry{&backend, now};
  }
  vms_.erase("");
}

LoadedBackend &VmDirectory::backend(std::string_view field, const std::string &name) {
  require_field(field, name);
  for (LoadedBackend &backend : backends_)
    if (backend.name == name) return backend;
  std::string known;
  for (const LoadedBackend &backend : backends_)
    known += (known.empty() ? "" : ", ") + backend.name;
  throw Error(HAL_INVALID_ARGUMENT, std::string(field) + ": backend '" + name +
                                        "' is not loaded on this node (it has: " + known + ")");
}

LoadedBackend *VmDirectory::owner(const std::string &vm_id) {
  {
    std::lock_guard lock(mu_);
    auto it = vms_.find(vm_id);
    if (it != vms_.end()) return it->second.backend;
  }
  for (LoadedBackend &backend : backends_) {
    if (backend.backend->find(vm_id)) {
      remember(vm_id, backend);
      return &backend;
    }
  }
  return nullptr;
}

std::pair<LoadedBackend *, Vm> VmDirectory::open(const std::string &vm_id) {
  require_vm_id("vm_id", vm_id);
  LoadedBackend *backend = owner(vm_id);
  if (backend != nullptr) {
    try {
      return {backend, backend->backend->lookup(vm_id)};
    } catch (const Error &e) {
      if (e.status() != HAL_NOT_FOUND) throw;
      forget(vm_id);
    }
  }
  throw Error(HAL_NOT_FOUND, "vm_id: VM '" + vm_id + "' not found on this node");
}

void VmDirectory::remember(const std::string &vm_id, LoadedBackend &backend) {
  std::lock_guard lock(mu_);
  Entry &entry = vms_[vm_id];
  entry.backend = &backend;
  if (entry.updated_ms == 0) entry.updated_ms = now_unix_ms();
}

void VmDirectory::forget(const std::string &vm_id) {
  std::lock_guard lock(mu_);
  vms_.erase(vm_id);
}

void VmDirectory::touch(const std::string &vm_id, int64_t unix_ms) {
  std::lock_guard lock(mu_);
  auto it = vms_.find(vm_id);
  if (it != vms_.end()) it->second.updated_ms = unix_ms;
}

int64_t VmDirectory::updated_ms(const std::string &vm_id) {
  std::lock_guard lock(mu_);
  auto it = vms_.find(vm_id);
  return it == vms_.end() ? 0 : it->second.updated_ms;
}

v1::VmStatus VmDirectory::status(const LoadedBackend &backend, const Vm &vm, bool with_info) {
  v1::VmStatus out;
  out.set_vm_id(vm.id());
  out.set_backend(backend.name);
  if (with_info) {
    nlohmann::json info = vm.info();
    out.set_state(info.value("state", state_name(vm.state())));
    out.set_info_json(info.dump());
  } else {
    out.set_state(state_name(vm.state()));
  }
  out.set_updated_unix_ms(updated_ms(vm.id()));
  return out;
}

std::vector<v1::VmStatus> VmDirectory::list() {
  std::vector<v1::VmStatus> out;
  for (LoadedBackend &backend : backends_) {
    nlohmann::json listed = backend.backend->list();
    for (const auto &vm : listed.value("vms", nlohmann::json::array())) {
      std::string id = vm.value("id", "");
      if (id.empty()) continue;
      v1::VmStatus status;
      status.set_vm_id(id);
      status.set_backend(backend.name);
      status.set_state(vm.value("state", "Unknown"));
      {
        std::lock_guard lock(mu_);
        Entry &entry = vms_[id];
        if (entry.backend == nullptr) entry = Entry{&backend, now_unix_ms()};
        status.set_updated_unix_ms(entry.updated_ms);
      }
      out.push_back(std::move(status));
    }
  }
  return out;
}

std::size_t VmDirectory::size() const {
  std::lock_guard lock(mu_);
  return vms_.size();
}

}  // namespace hal::node
