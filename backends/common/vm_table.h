// vm_table.h - the VMs one open backend instance knows, and the hal_vm handle on one of them:
// the shape every hypervisor backend has around its per-VM controller. The table defines a VM
// under its name (ALREADY_EXISTS when taken; a fresh private state dir holding its spec),
// re-adopts the VMs kept in the state root at open(), looks VMs up (NOT_FOUND), lists them for
// vm_list, forgets deleted ones, counts live handles and closes (FAILED_PRECONDITION while
// handles remain, as hal.h's close says). A backend keeps its controller (the protocol), its own
// spec checks and the optional entries of its handle.
#ifndef HAL_BACKENDS_COMMON_VM_TABLE_H
#define HAL_BACKENDS_COMMON_VM_TABLE_H

#include <atomic>
#include <concepts>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "backends/common/state_dir.h"
#include "backends/common/state_files.h"
#include "backends/common/vm_specs.h"
#include "core/spec/vm_id.h"
#include "hal/names.h"
#include "hal/plugin.hpp"

namespace hal::backend_common {

/** What the table and its handles need of a backend's per-VM controller. state() and info()
 *  throw hal::plugin::Failure(HAL_NOT_FOUND) once remove() has succeeded, and deleted() is then
 *  true; restore_from_disk() decides the state of a VM found in its state dir at open();
 *  detach() stops watching the hypervisor, which keeps running, and no event follows it. */
template <class C>
concept VmControllerType = requires(C &vm, const C &const_vm, uint32_t flags) {
  { const_vm.id() } -> std::convertible_to<std::string>;
  { const_vm.state() } -> std::same_as<hal_vm_state>;
  { const_vm.deleted() } -> std::same_as<bool>;
  { const_vm.info() } -> std::convertible_to<std::string>;
  vm.start(flags);
  vm.force_stop();
  vm.remove();
  vm.restore_from_disk();
  vm.detach();
};

namespace detail {

/** A table's contents, shared with its handles: a handle drops its VM once deleted, and counts
 *  itself, even if (against hal.h) it outlives the backend. */
template <class Controller>
struct VmTableState {
  /** Guards `vms`. */
  std::mutex mutex;
  /** The VMs by id. */
  std::map<std::string, std::shared_ptr<Controller>, std::less<>> vms;
  /** Live handles. */
  std::atomic<int> handles{0};

  /** Drops VM `id` when it has been deleted. */
  void forget(const std::string &id) {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = vms.find(id);
    if (it != vms.end() && it->second->deleted()) vms.erase(it);
  }
};

}  // namespace detail

/** A hal_vm handle on one VM of a VmTable: the required entries forward to the controller, and
 *  vm_delete also drops the VM from the table. A backend derives its final handle class from it
 *  and declares there each optional entry its controller implements, forwarding to vm():
 *  plugin.hpp sets an optional table entry only for a method the final class declares. */
template <VmControllerType Controller>
class VmHandle : public hal::plugin::Vm {
 public:
  /** A handle on `vm`, counted in `table` (handles are made by VmTable::handle and lookup). */
  VmHandle(std::shared_ptr<Controller> vm, std::shared_ptr<detail::VmTableState<Controller>> table)
      : vm_(std::move(vm)), table_(std::move(table)) {
    ++table_->handles;
  }
  /** vm_release: the VM is unaffected. */
  ~VmHandle() override { --table_->handles; }
  VmHandle(const VmHandle &) = delete;
  VmHandle &operator=(const VmHandle &) = delete;

  /** vm_start. */
  void start(uint32_t flags) override { vm_->start(flags); }
  /** vm_force_stop. */
  void force_stop() override { vm_->force_stop(); }
  /** vm_delete, then the table forgets the VM. HAL_DELETE_STORAGE changes nothing: the backends
   *  create no disks of their own. */
  void remove(uint32_t /*flags*/) override {
    vm_->remove();
    table_->forget(vm_->id());
  }
  /** vm_get_state. */
  hal_vm_state state() override { return vm_->state(); }
  /** vm_get_info. */
  std::string info() override { return vm_->info(); }

 protected:
  /** The VM, for the optional entries of the final class. */
  Controller &vm() const { return *vm_; }

 private:
  std::shared_ptr<Controller> vm_;
  std::shared_ptr<detail::VmTableState<Controller>> table_;
};

/** The VMs of one open backend instance, by id. Thread-safe. */
template <VmControllerType Controller>
class VmTable {
 public:
  VmTable() = default;
  /** Detaches every VM still in the table (a backend destroyed without close(), e.g. when its
   *  open() failed after re-adopting VMs): their hypervisors keep running. */
  ~VmTable() {
    for (const std::shared_ptr<Controller> &vm : take_all()) vm->detach();
  }
  VmTable(const VmTable &) = delete;
  VmTable &operator=(const VmTable &) = delete;

  /** Adds `vm` under its id; when the table already has that id, it keeps its VM. */
  void add(std::shared_ptr<Controller> vm) {
    std::lock_guard<std::mutex> lock(state_->mutex);
    std::string id = vm->id();
    state_->vms.emplace(std::move(id), std::move(vm));
  }

  /** At open(): re-adopts the VMs kept under `state_root` (stored_vms). For each one,
   *  `make(StoredVm &&)` returns its controller, whose restore_from_disk() decides its state
   *  (and re-adopts a hypervisor still running); then it is added. */
  template <class Make>
  void adopt_stored(const std::filesystem::path &state_root, Make &&make) {
    for (StoredVm &stored : stored_vms(state_root)) {
      std::shared_ptr<Controller> vm = make(std::move(stored));
      vm->restore_from_disk();
      add(std::move(vm));
    }
  }

  /** Defines VM `name` (vm_create, migration_prepare_incoming): Failure(HAL_INVALID_ARGUMENT)
   *  unless `name` is a valid VM id (core/spec/vm_id.h), so `dir` (<root>/<name>) stays inside
   *  the state root; Failure(HAL_ALREADY_EXISTS) when
   *  the table has a VM of that name or its state dir `dir` exists already; else creates `dir`
   *  (mode 0700) with `spec_doc` as its spec file (Failure(HAL_PERMISSION_DENIED) when that
   *  fails, leaving no dir behind) and adds the controller `make()` returns, whose id must be
   *  `name`. Holds the table's lock throughout, so of two definitions of one name only one
   *  succeeds. */
  template <class Make>
  std::shared_ptr<Controller> define(const std::string &name, const StateDir &dir,
                                     const nlohmann::json &spec_doc, Make &&make) {
    using hal::plugin::Failure;
    if (std::string problem = vm_id_problem(name); !problem.empty()) {
      throw Failure(HAL_INVALID_ARGUMENT, "name: VM id '" + name + "' " + problem);
    }
    if (dir.dir().filename() != name) {
      throw Failure(HAL_INTERNAL, "VM '" + name + "': state dir " + dir.dir().string() +
                                      " is not named after it");
    }
    std::lock_guard<std::mutex> lock(state_->mutex);
    if (state_->vms.count(name) != 0) {
      throw Failure(HAL_ALREADY_EXISTS, "VM '" + name + "' already exists");
    }
    if (dir.exists()) {
      throw Failure(HAL_ALREADY_EXISTS,
                    "VM '" + name + "': state directory " + dir.dir().string() + " already exists");
    }
    try {
      dir.create();
      write_file_atomic(dir.spec_file(), spec_doc.dump(2));
    } catch (const std::exception &e) {
      dir.remove();
      throw Failure(HAL_PERMISSION_DENIED,
                    std::string("cannot create the VM state dir: ") + e.what());
    }
    std::shared_ptr<Controller> vm = make();  // may move from the spec that `name` is part of
    state_->vms.emplace(vm->id(), vm);
    return vm;
  }

  /** A new handle of the backend's class `Handle` (derived from VmHandle<Controller>) on `vm`. */
  template <class Handle>
  std::unique_ptr<hal::plugin::Vm> handle(std::shared_ptr<Controller> vm) {
    static_assert(std::is_base_of_v<VmHandle<Controller>, Handle>,
                  "the handle class must derive backend_common::VmHandle<Controller>");
    return std::make_unique<Handle>(std::move(vm), state_);
  }

  /** A handle on the VM `define` just made, once `setup(vm)` has succeeded (the start of
   *  HAL_CREATE_START, the incoming side of a migration). When setup throws, the VM is removed
   *  (its state dir too) and forgotten before the exception goes on: the caller gets no handle,
   *  so nothing half-made stays behind. */
  template <class Handle, class Setup>
  std::unique_ptr<hal::plugin::Vm> handle_after(std::shared_ptr<Controller> vm, Setup &&setup) {
    try {
      setup(*vm);
    } catch (...) {
      try {
        vm->remove();
      } catch (const std::exception &) {
      }
      state_->forget(vm->id());
      throw;
    }
    return handle<Handle>(std::move(vm));
  }

  /** vm_lookup: a new `Handle` on VM `id`; Failure(HAL_NOT_FOUND) when the table has none. */
  template <class Handle>
  std::unique_ptr<hal::plugin::Vm> lookup(std::string_view id) {
    std::shared_ptr<Controller> vm;
    {
      std::lock_guard<std::mutex> lock(state_->mutex);
      auto it = state_->vms.find(id);
      if (it == state_->vms.end()) {
        throw hal::plugin::Failure(HAL_NOT_FOUND, "VM '" + std::string(id) + "' not found");
      }
      vm = it->second;
    }
    return handle<Handle>(std::move(vm));
  }

  /** vm_list's document, {"vms":[{"id","state"}...]} in id order; a VM deleted meanwhile is
   *  left out. States are read outside the table's lock. */
  std::string list_json() const {
    std::vector<std::shared_ptr<Controller>> vms;
    {
      std::lock_guard<std::mutex> lock(state_->mutex);
      for (const auto &[id, vm] : state_->vms) vms.push_back(vm);
    }
    nlohmann::json list = nlohmann::json::array();
    for (const std::shared_ptr<Controller> &vm : vms) {
      try {
        list.push_back({{"id", vm->id()}, {"state", hal_vm_state_name(vm->state())}});
      } catch (const hal::plugin::Failure &) {
        // deleted meanwhile
      }
    }
    return nlohmann::json({{"vms", list}}).dump();
  }

  /** Drops VM `id` when it has been deleted. */
  void forget(const std::string &id) { state_->forget(id); }

  /** close(): Failure(HAL_FAILED_PRECONDITION) while handles are unreleased, the table left as
   *  it was; else empties the table and detaches every VM, after force-stopping each one with
   *  HAL_CLOSE_STOP_VMS (its errors ignored). Without it the hypervisors keep running for the
   *  next open() to re-adopt. */
  void close(uint32_t flags) {
    if (const int handles = state_->handles.load(); handles != 0) {
      throw hal::plugin::Failure(HAL_FAILED_PRECONDITION, "close: " + std::to_string(handles) +
                                                              " VM handle(s) still unreleased");
    }
    for (const std::shared_ptr<Controller> &vm : take_all()) {
      if (flags & HAL_CLOSE_STOP_VMS) {
        try {
          vm->force_stop();
        } catch (const std::exception &) {
        }
      }
      vm->detach();
    }
  }

  /** Live handles on the table's VMs. */
  int handles() const { return state_->handles.load(); }
  /** VMs in the table. */
  size_t size() const {
    std::lock_guard<std::mutex> lock(state_->mutex);
    return state_->vms.size();
  }

 private:
  // Empties the table and returns what it held.
  std::vector<std::shared_ptr<Controller>> take_all() {
    std::vector<std::shared_ptr<Controller>> vms;
    std::lock_guard<std::mutex> lock(state_->mutex);
    for (auto &[id, vm] : state_->vms) vms.push_back(std::move(vm));
    state_->vms.clear();
    return vms;
  }

  std::shared_ptr<detail::VmTableState<Controller>> state_ =
      std::make_shared<detail::VmTableState<Controller>>();
};

/** A hal::plugin::Backend whose VMs live in a VmTable of `Controller`s with handles of class
 *  `Handle`: close, vm_create, vm_lookup and vm_list are the table's. The final backend class
 *  adds open() (its constructor; it re-adopts through vms().adopt_stored), capabilities, host
 *  info, define() and its optional entries, which it must declare itself (plugin.hpp), e.g.
 *  prepare_incoming through define_incoming(). */
template <VmControllerType Controller, class Handle>
class VmTableBackend : public hal::plugin::Backend {
 public:
  /** close: VmTable::close. */
  void close(uint32_t flags) override { vms_.close(flags); }
  /** vm_create: define() (nullptr with HAL_CREATE_VALIDATE_ONLY), then with HAL_CREATE_START the
   *  start, whose failure removes the VM again (VmTable::handle_after). */
  std::unique_ptr<hal::plugin::Vm> create_vm(std::string_view spec_json, uint32_t flags) override {
    std::shared_ptr<Controller> vm = define(spec_json, flags & HAL_CREATE_VALIDATE_ONLY);
    if (!vm) return nullptr;
    return vms_.template handle_after<Handle>(std::move(vm), [flags](Controller &defined) {
      if (flags & HAL_CREATE_START) defined.start(0);
    });
  }
  /** vm_lookup: VmTable::lookup. */
  std::unique_ptr<hal::plugin::Vm> lookup_vm(std::string_view vm_id) override {
    return vms_.template lookup<Handle>(vm_id);
  }
  /** vm_list: VmTable::list_json. */
  std::string list_vms() override { return vms_.list_json(); }

 protected:
  /** Checks `spec_json` as the hypervisor needs it (throwing the ABI's errors) and, unless
   *  `validate_only`, defines the VM with vms().define; nullptr with `validate_only`. */
  virtual std::shared_ptr<Controller> define(std::string_view spec_json, bool validate_only) = 0;

  /** The body of migration_prepare_incoming: refuses TDX (refuse_tdx_incoming), defines the VM
   *  and runs `start_incoming(Controller &)`, which readies the target and fills the endpoint;
   *  when that throws, the VM is removed again. */
  template <class StartIncoming>
  std::unique_ptr<hal::plugin::Vm> define_incoming(std::string_view spec_json,
                                                   StartIncoming &&start_incoming) {
    refuse_tdx_incoming(spec_json);
    return vms_.template handle_after<Handle>(define(spec_json, false),
                                              std::forward<StartIncoming>(start_incoming));
  }

  /** The backend's VMs. */
  VmTable<Controller> &vms() { return vms_; }

 private:
  VmTable<Controller> vms_;
};

}  // namespace hal::backend_common

#endif  // HAL_BACKENDS_COMMON_VM_TABLE_H
