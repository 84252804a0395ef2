// plugin.hpp - header-only C++ helper for HAL plugin authors: implement a backend as C++ classes
// and let HAL_DEFINE_PLUGIN generate the C ABI (hal.h) table, thunks and hal_plugin_negotiate.
//
// USAGE
//   class MyVm : public hal::plugin::Vm {          // one object per hal_vm handle
//     void start(uint32_t flags) override;         // required entries: pure virtual
//     ...
//     void pause() override;                       // optional entry: declare it => table entry set
//   };
//   class MyBackend : public hal::plugin::Backend {   // one object per open()
//    public:
//     MyBackend(std::string_view config_json, hal::plugin::EventSink events);  // open()
//     ...
//   };
//   HAL_DEFINE_PLUGIN(MyBackend, MyVm, R"({"name":"my","vendor":"...","version":"1.0",...})")
//
// OPTIONAL ENTRIES: an optional table entry (vm_pause, migration_send, vm_restore, ...) is
// non-NULL exactly when the class given to HAL_DEFINE_PLUGIN itself declares the matching
// method (normally with `override`). Detection is compile-time: `&MyVm::pause` has type
// `void (MyVm::*)()` only when MyVm declares pause. Do not overload these method names, and
// declare them in the final class (not only in an intermediate base). The base-class versions
// throw Failure(HAL_UNSUPPORTED) and are never reached through the table.
// `hal::plugin::operations_json<MyBackend, MyVm>(abi_version())` gives the "operations" object
// for the capabilities document (keys = table entry names, capabilities.schema.json), so
// capabilities always agree with the table; `abi_version_string()` gives its "abiVersion".
//
// VERSIONS: the plugin keeps one static table per minor it speaks (hal.h, ONE TABLE PER
// MINOR). Each table has its own open thunk, which records that table's version in the Backend
// it creates (Backend::abi_version()), so two hosts in one process that negotiated different
// minors each see the version they negotiated. Nothing about negotiation is process-wide.
//
// THE BOUNDARY: thunks reject NULL required pointers, flag bits outside the entry's
// *_FLAGS_ALL mask (entries documented "flags: none" accept only 0) and the pairs hal.h calls
// exclusive (vm_create VALIDATE_ONLY + START, close KEEP_VMS + STOP_VMS) with HAL_INVALID_ARGUMENT,
// before the class is called;
// they catch every exception: Failure{status, message} -> that status, std::exception ->
// HAL_INTERNAL with what(). hal_error is filled within its struct_size (cleared on HAL_OK).
// Out strings are malloc()ed; free_string() free()s them. Out pointers are NULL unless HAL_OK.
// Negotiation accepts host major 1 and answers the table of min(host minor,
// HAL_ABI_VERSION_MINOR).
#ifndef HAL_PLUGIN_HPP
#define HAL_PLUGIN_HPP

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "hal/hal.h"
#include "hal/table_entries.h"

namespace hal::plugin {

/** An error to report across the ABI: thrown by plugin code, turned into `status` + message. */
struct Failure : std::runtime_error {
  /** Makes a failure with a hal_status and a message naming the problem. */
  Failure(hal_status status_code, const std::string &message)
      : std::runtime_error(message), status(status_code) {}
  /** The status returned to the host. */
  hal_status status;
};

/** Delivers events to the callback registered at open(); copyable, a no-op without callback. */
class EventSink {
 public:
  /** A sink that drops everything. */
  EventSink() = default;
  /** A sink calling `fn(user_data, event)`. */
  EventSink(hal_event_fn fn, void *user_data) : fn_(fn), user_data_(user_data) {}
  /** Delivers one event now, on the calling thread. `detail_json` empty means NULL. */
  void emit(hal_event_type type, const std::string &vm_id, hal_vm_state state,
            const std::string &detail_json = {}) const {
    if (fn_ == nullptr) return;
    hal_event event{};
    event.struct_size = sizeof(hal_event);
    event.type = type;
    event.vm_id = vm_id.c_str();
    event.state = state;
    event.timestamp_ns =
        static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count());
    event.detail_json = detail_json.empty() ? nullptr : detail_json.c_str();
    fn_(user_data_, &event);
  }
  /** True when a callback is registered. */
  explicit operator bool() const { return fn_ != nullptr; }

 private:
  hal_event_fn fn_ = nullptr;
  void *user_data_ = nullptr;
};

/** "" when `flags` holds at most one of `first` and `second`, a pair hal.h makes exclusive
 *  (vm_create VALIDATE_ONLY + START, close KEEP_VMS + STOP_VMS); else why not, e.g.
 *  "HAL_CLOSE_KEEP_VMS and HAL_CLOSE_STOP_VMS are exclusive; pass at most one". The host's
 *  hal::Backend (libhal-core) refuses the same pairs with the same words. */
inline std::string exclusive_flags_conflict(uint32_t flags, uint32_t first, const char *first_name,
                                            uint32_t second, const char *second_name) {
  if ((flags & first) == 0 || (flags & second) == 0) return {};
  return std::string(first_name) + " and " + second_name + " are exclusive; pass at most one";
}

namespace detail {
/** Throws HAL_UNSUPPORTED for an optional entry the plugin does not implement. */
[[noreturn]] inline void unsupported(const char *op) {
  throw Failure(HAL_UNSUPPORTED, std::string(op) + ": not supported by this backend");
}
}  // namespace detail

/** One VM handle (hal_vm). Destroyed by vm_release. Required methods are pure virtual. */
class Vm {
 public:
  virtual ~Vm() = default;
  /** vm_start (flags already checked against HAL_START_FLAGS_ALL). */
  virtual void start(uint32_t flags) = 0;
  /** vm_force_stop. */
  virtual void force_stop() = 0;
  /** vm_delete (flags already checked against HAL_DELETE_FLAGS_ALL). */
  virtual void remove(uint32_t flags) = 0;
  /** vm_get_state. */
  virtual hal_vm_state state() = 0;
  /** vm_get_info: the info JSON document. */
  virtual std::string info() = 0;

  /** Optional vm_pause. */
  virtual void pause() { detail::unsupported("vm_pause"); }
  /** Optional vm_resume. */
  virtual void resume() { detail::unsupported("vm_resume"); }
  /** Optional vm_shutdown (flags already checked against HAL_SHUTDOWN_FLAGS_ALL). */
  virtual void shutdown(uint32_t /*timeout_ms*/, uint32_t /*flags*/) {
    detail::unsupported("vm_shutdown");
  }
  /** Optional vm_reboot. */
  virtual void reboot() { detail::unsupported("vm_reboot"); }
  /** Optional vm_reset. */
  virtual void reset() { detail::unsupported("vm_reset"); }
  /** Optional vm_get_console: the endpoint JSON. */
  virtual std::string console() { detail::unsupported("vm_get_console"); }
  /** Optional migration_send: starts a migration with `params_json` and returns at once. */
  virtual void migration_send(std::string_view /*params_json*/) {
    detail::unsupported("migration_send");
  }
  /** Optional migration_get_progress: the progress JSON. */
  virtual std::string migration_progress() { detail::unsupported("migration_get_progress"); }
  /** Optional migration_cancel. */
  virtual void migration_cancel() { detail::unsupported("migration_cancel"); }
  /** Optional vm_snapshot (ABI 1.1). */
  virtual void snapshot(std::string_view /*params_json*/) { detail::unsupported("vm_snapshot"); }
  /** Optional vm_attach_device (ABI 1.1). */
  virtual void attach_device(std::string_view /*device_json*/) {
    detail::unsupported("vm_attach_device");
  }
  /** Optional vm_detach_device (ABI 1.1). */
  virtual void detach_device(std::string_view /*device_name*/) {
    detail::unsupported("vm_detach_device");
  }
};

namespace detail {
template <class B, class V, const char *(*Identity)()>
struct Thunks;
}  // namespace detail

/** A packed ABI version as "MAJOR.MINOR", the form of the capabilities' "abiVersion". */
inline std::string version_string(uint32_t version) {
  return std::to_string(HAL_VERSION_MAJOR(version)) + "." +
         std::to_string(HAL_VERSION_MINOR(version));
}

/** One open backend (hal_backend). Constructed by open(), destroyed after a successful close(). */
class Backend {
 public:
  virtual ~Backend() = default;
  /** The ABI version (HAL_MAKE_VERSION) of the table whose open() created this backend: the
   *  version negotiated with the host that opened it, which get_capabilities reports as
   *  "abiVersion" (hal.h, LC-002). HAL_ABI_VERSION inside the constructor (set after it). */
  uint32_t abi_version() const noexcept { return abi_version_; }
  /** abi_version() as "MAJOR.MINOR". */
  std::string abi_version_string() const { return version_string(abi_version_); }
  /** close: throw Failure to refuse (the backend stays open); on return it is destroyed. `flags`
   *  are already checked: known bits only, never KEEP_VMS with STOP_VMS. */
  virtual void close(uint32_t flags) = 0;
  /** get_capabilities: the capabilities JSON. */
  virtual std::string capabilities() = 0;
  /** get_host_info: the host info JSON. */
  virtual std::string host_info() = 0;
  /** vm_create; return nullptr with HAL_CREATE_VALIDATE_ONLY. `flags` are already checked: known
   *  bits only, never VALIDATE_ONLY with START. */
  virtual std::unique_ptr<Vm> create_vm(std::string_view spec_json, uint32_t flags) = 0;
  /** vm_lookup; return nullptr (cheapest: no exception) or throw Failure(HAL_NOT_FOUND) when
   *  absent. */
  virtual std::unique_ptr<Vm> lookup_vm(std::string_view vm_id) = 0;
  /** vm_list: {"vms":[{"id","state"}...]}. */
  virtual std::string list_vms() = 0;

  /** Optional migration_prepare_incoming; `params_json` is empty when NULL was passed. */
  virtual std::unique_ptr<Vm> prepare_incoming(std::string_view /*spec_json*/,
                                               std::string_view /*params_json*/,
                                               std::string & /*out_endpoint_json*/) {
    detail::unsupported("migration_prepare_incoming");
  }
  /** Optional vm_restore (ABI 1.1). */
  virtual std::unique_ptr<Vm> restore(std::string_view /*params_json*/) {
    detail::unsupported("vm_restore");
  }

 private:
  template <class B, class V, const char *(*Identity)()>
  friend struct detail::Thunks;
  uint32_t abi_version_ = HAL_ABI_VERSION;
};

namespace detail {

/** The class that declares a pointer-to-member's member. */
template <class T>
struct member_owner;
template <class R, class C>
struct member_owner<R C::*> {
  using type = C;
};
/** True when `Member` (a &Class::method) is declared in Class itself. */
template <class Class, class Member>
inline constexpr bool declared_in_v = std::is_same_v<typename member_owner<Member>::type, Class>;

/** Writes `message` into `error` within its struct_size (NULL/too small error: nothing). */
inline void set_error(hal_error *error, const char *message) noexcept {
  if (error == nullptr || error->struct_size <= offsetof(hal_error, message)) return;
  size_t capacity =
      std::min<size_t>(error->struct_size - offsetof(hal_error, message), HAL_ERROR_MESSAGE_SIZE);
  size_t length = std::min(std::strlen(message), capacity - 1);
  std::memcpy(error->message, message, length);
  error->message[length] = '\0';
}

/** Copies `text` into a malloc()ed string (freed by free_string). */
inline char *dup_string(const std::string &text) {
  char *out = static_cast<char *>(std::malloc(text.size() + 1));
  if (out == nullptr) throw std::bad_alloc();
  std::memcpy(out, text.data(), text.size() + 1);
  return out;
}

/** Runs `body` and converts every exception into a status + message. */
template <class F>
hal_status guard(const char *op, hal_error *error, F &&body) noexcept {
  try {
    body();
    set_error(error, "");
    return HAL_OK;
  } catch (const Failure &failure) {
    set_error(error, failure.what());
    return failure.status;
  } catch (const std::exception &e) {
    char buffer[HAL_ERROR_MESSAGE_SIZE];
    std::snprintf(buffer, sizeof buffer, "%s: internal error: %s", op, e.what());
    set_error(error, buffer);
    return HAL_INTERNAL;
  } catch (...) {
    char buffer[HAL_ERROR_MESSAGE_SIZE];
    std::snprintf(buffer, sizeof buffer, "%s: internal error: unknown exception", op);
    set_error(error, buffer);
    return HAL_INTERNAL;
  }
}

/** Throws INVALID_ARGUMENT when `flags` has a bit outside `allowed`. */
inline void check_flags(const char *op, uint32_t flags, uint32_t allowed) {
  if ((flags & ~allowed) == 0) return;
  char buffer[160];
  std::snprintf(buffer, sizeof buffer, "%s: unknown flag bits 0x%x in flags (accepted: 0x%x)", op,
                flags & ~allowed, allowed);
  throw Failure(HAL_INVALID_ARGUMENT, buffer);
}

/** Throws INVALID_ARGUMENT when `flags` holds both `first` and `second`, which hal.h makes
 *  exclusive (their names are given for the message). */
inline void check_exclusive(const char *op, uint32_t flags, uint32_t first, const char *first_name,
                            uint32_t second, const char *second_name) {
  std::string conflict = exclusive_flags_conflict(flags, first, first_name, second, second_name);
  if (conflict.empty()) return;
  throw Failure(HAL_INVALID_ARGUMENT, std::string(op) + ": " + conflict);
}

/** Throws INVALID_ARGUMENT when a required pointer is NULL. */
inline void check_arg(const char *op, const void *pointer, const char *name) {
  if (pointer != nullptr) return;
  throw Failure(HAL_INVALID_ARGUMENT, std::string(op) + ": " + name + " must not be NULL");
}

template <class B>
B *as_backend(hal_backend *backend) {
  return reinterpret_cast<B *>(backend);
}
template <class V>
V *as_vm(hal_vm *vm) {
  return static_cast<V *>(reinterpret_cast<Vm *>(vm));
}
inline hal_vm *to_handle(std::unique_ptr<Vm> vm) {
  return reinterpret_cast<hal_vm *>(vm.release());
}

/** The C entry points for backend class B, VM class V and identity function Identity. */
template <class B, class V, const char *(*Identity)()>
struct Thunks {
  static_assert(std::is_base_of_v<Backend, B>, "backend class must derive hal::plugin::Backend");
  static_assert(std::is_base_of_v<Vm, V>, "VM class must derive hal::plugin::Vm");

  static hal_status get_identity(uint32_t flags, char **out_json, hal_error *error) {
    if (out_json != nullptr) *out_json = nullptr;
    return guard("get_identity", error, [&] {
      check_arg("get_identity", out_json, "out_json");
      check_flags("get_identity", flags, HAL_FLAGS_NONE);
      *out_json = dup_string(Identity());
    });
  }
  static void free_string(char *string) { std::free(string); }
  /** open() of the table for ABI 1.`Minor`: the backend records that version. */
  template <uint32_t Minor>
  static hal_status open(const char *config_json, hal_event_fn on_event, void *user_data,
                         uint32_t flags, hal_backend **out_backend, hal_error *error) {
    if (out_backend != nullptr) *out_backend = nullptr;
    return guard("open", error, [&] {
      check_arg("open", out_backend, "out_backend");
      check_flags("open", flags, HAL_FLAGS_NONE);
      auto backend = std::make_unique<B>(std::string_view(config_json ? config_json : "{}"),
                                         EventSink(on_event, user_data));
      static_cast<Backend *>(backend.get())->abi_version_ = HAL_MAKE_VERSION(1, Minor);
      *out_backend = reinterpret_cast<hal_backend *>(backend.release());
    });
  }
  static hal_status close(hal_backend *backend, uint32_t flags, hal_error *error) {
    return guard("close", error, [&] {
      check_arg("close", backend, "backend");
      check_flags("close", flags, HAL_CLOSE_FLAGS_ALL);
      check_exclusive("close", flags, HAL_CLOSE_KEEP_VMS, "HAL_CLOSE_KEEP_VMS", HAL_CLOSE_STOP_VMS,
                      "HAL_CLOSE_STOP_VMS");
      B *impl = as_backend<B>(backend);
      impl->close(flags);
      delete impl;
    });
  }
  template <class Fn>
  static hal_status string_out(const char *op, const void *handle, uint32_t flags, char **out_json,
                               hal_error *error, Fn &&fn) {
    if (out_json != nullptr) *out_json = nullptr;
    return guard(op, error, [&] {
      check_arg(op, handle, "handle");
      check_arg(op, out_json, "out_json");
      check_flags(op, flags, HAL_FLAGS_NONE);
      std::string text = fn();
      *out_json = dup_string(text);
    });
  }
  static hal_status get_capabilities(hal_backend *b, uint32_t flags, char **out, hal_error *e) {
    return string_out("get_capabilities", b, flags, out, e,
                      [&] { return as_backend<B>(b)->capabilities(); });
  }
  static hal_status get_host_info(hal_backend *b, uint32_t flags, char **out, hal_error *e) {
    return string_out("get_host_info", b, flags, out, e,
                      [&] { return as_backend<B>(b)->host_info(); });
  }
  static hal_status vm_list(hal_backend *b, uint32_t flags, char **out, hal_error *e) {
    return string_out("vm_list", b, flags, out, e, [&] { return as_backend<B>(b)->list_vms(); });
  }
  static hal_status vm_create(hal_backend *b, const char *spec, uint32_t flags, hal_vm **out_vm,
                              hal_error *e) {
    if (out_vm != nullptr) *out_vm = nullptr;
    return guard("vm_create", e, [&] {
      check_arg("vm_create", b, "backend");
      check_arg("vm_create", spec, "spec_json");
      check_arg("vm_create", out_vm, "out_vm");
      check_flags("vm_create", flags, HAL_CREATE_FLAGS_ALL);
      check_exclusive("vm_create", flags, HAL_CREATE_VALIDATE_ONLY, "HAL_CREATE_VALIDATE_ONLY",
                      HAL_CREATE_START, "HAL_CREATE_START");
      *out_vm = to_handle(as_backend<B>(b)->create_vm(spec, flags));
    });
  }
  static hal_status vm_lookup(hal_backend *b, const char *id, uint32_t flags, hal_vm **out_vm,
                              hal_error *e) {
    if (out_vm != nullptr) *out_vm = nullptr;
    bool absent = false;
    hal_status status = guard("vm_lookup", e, [&] {
      check_arg("vm_lookup", b, "backend");
      check_arg("vm_lookup", id, "vm_id");
      check_arg("vm_lookup", out_vm, "out_vm");
      check_flags("vm_lookup", flags, HAL_FLAGS_NONE);
      std::unique_ptr<Vm> vm = as_backend<B>(b)->lookup_vm(id);
      absent = vm == nullptr;
      if (!absent) *out_vm = to_handle(std::move(vm));
    });
    if (!absent) return status;
    char buffer[HAL_ERROR_MESSAGE_SIZE];
    std::snprintf(buffer, sizeof buffer, "vm_lookup: no VM '%s'", id);
    set_error(e, buffer);
    return HAL_NOT_FOUND;
  }
  static void vm_release(hal_vm *vm) { delete reinterpret_cast<Vm *>(vm); }
  template <class Fn>
  static hal_status vm_call(const char *op, hal_vm *vm, uint32_t flags, uint32_t allowed,
                            hal_error *e, Fn &&fn) {
    return guard(op, e, [&] {
      check_arg(op, vm, "vm");
      check_flags(op, flags, allowed);
      fn(as_vm<V>(vm));
    });
  }
  static hal_status vm_start(hal_vm *vm, uint32_t flags, hal_error *e) {
    return vm_call("vm_start", vm, flags, HAL_START_FLAGS_ALL, e, [&](V *v) { v->start(flags); });
  }
  static hal_status vm_force_stop(hal_vm *vm, uint32_t flags, hal_error *e) {
    return vm_call("vm_force_stop", vm, flags, 0, e, [](V *v) { v->force_stop(); });
  }
  static hal_status vm_delete(hal_vm *vm, uint32_t flags, hal_error *e) {
    return vm_call("vm_delete", vm, flags, HAL_DELETE_FLAGS_ALL, e,
                   [&](V *v) { v->remove(flags); });
  }
  static hal_status vm_get_state(hal_vm *vm, uint32_t flags, hal_vm_state *out, hal_error *e) {
    return guard("vm_get_state", e, [&] {
      check_arg("vm_get_state", vm, "vm");
      check_arg("vm_get_state", out, "out_state");
      check_flags("vm_get_state", flags, 0);
      *out = as_vm<V>(vm)->state();
    });
  }
  static hal_status vm_get_info(hal_vm *vm, uint32_t flags, char **out, hal_error *e) {
    return string_out("vm_get_info", vm, flags, out, e, [&] { return as_vm<V>(vm)->info(); });
  }
  static hal_status vm_pause(hal_vm *vm, uint32_t flags, hal_error *e) {
    return vm_call("vm_pause", vm, flags, 0, e, [](V *v) { v->pause(); });
  }
  static hal_status vm_resume(hal_vm *vm, uint32_t flags, hal_error *e) {
    return vm_call("vm_resume", vm, flags, 0, e, [](V *v) { v->resume(); });
  }
  static hal_status vm_shutdown(hal_vm *vm, uint32_t timeout_ms, uint32_t flags, hal_error *e) {
    return vm_call("vm_shutdown", vm, flags, HAL_SHUTDOWN_FLAGS_ALL, e,
                   [&](V *v) { v->shutdown(timeout_ms, flags); });
  }
  static hal_status vm_reboot(hal_vm *vm, uint32_t flags, hal_error *e) {
    return vm_call("vm_reboot", vm, flags, 0, e, [](V *v) { v->reboot(); });
  }
  static hal_status vm_reset(hal_vm *vm, uint32_t flags, hal_error *e) {
    return vm_call("vm_reset", vm, flags, 0, e, [](V *v) { v->reset(); });
  }
  static hal_status vm_get_console(hal_vm *vm, uint32_t flags, char **out, hal_error *e) {
    return string_out("vm_get_console", vm, flags, out, e, [&] { return as_vm<V>(vm)->console(); });
  }
  static hal_status prepare_incoming(hal_backend *b, const char *spec, const char *params,
                                     uint32_t flags, hal_vm **out_vm, char **out_endpoint,
                                     hal_error *e) {
    if (out_vm != nullptr) *out_vm = nullptr;
    if (out_endpoint != nullptr) *out_endpoint = nullptr;
    const char *op = "migration_prepare_incoming";
    return guard(op, e, [&] {
      check_arg(op, b, "backend");
      check_arg(op, spec, "spec_json");
      check_arg(op, out_vm, "out_vm");
      check_arg(op, out_endpoint, "out_endpoint_json");
      check_flags(op, flags, 0);
      std::string endpoint;
      std::unique_ptr<Vm> vm =
          as_backend<B>(b)->prepare_incoming(spec, params ? params : "", endpoint);
      char *endpoint_copy = dup_string(endpoint);
      *out_vm = to_handle(std::move(vm));
      *out_endpoint = endpoint_copy;
    });
  }
  static hal_status migration_send(hal_vm *vm, const char *params, uint32_t flags, hal_error *e) {
    return guard("migration_send", e, [&] {
      check_arg("migration_send", vm, "vm");
      check_arg("migration_send", params, "params_json");
      check_flags("migration_send", flags, 0);
      as_vm<V>(vm)->migration_send(params);
    });
  }
  static hal_status migration_get_progress(hal_vm *vm, uint32_t flags, char **out, hal_error *e) {
    return string_out("migration_get_progress", vm, flags, out, e,
                      [&] { return as_vm<V>(vm)->migration_progress(); });
  }
  static hal_status migration_cancel(hal_vm *vm, uint32_t flags, hal_error *e) {
    return vm_call("migration_cancel", vm, flags, 0, e, [](V *v) { v->migration_cancel(); });
  }
  static hal_status vm_snapshot(hal_vm *vm, const char *params, uint32_t flags, hal_error *e) {
    return guard("vm_snapshot", e, [&] {
      check_arg("vm_snapshot", vm, "vm");
      check_arg("vm_snapshot", params, "params_json");
      check_flags("vm_snapshot", flags, 0);
      as_vm<V>(vm)->snapshot(params);
    });
  }
  static hal_status vm_restore(hal_backend *b, const char *params, uint32_t flags, hal_vm **out_vm,
                               hal_error *e) {
    if (out_vm != nullptr) *out_vm = nullptr;
    return guard("vm_restore", e, [&] {
      check_arg("vm_restore", b, "backend");
      check_arg("vm_restore", params, "params_json");
      check_arg("vm_restore", out_vm, "out_vm");
      check_flags("vm_restore", flags, 0);
      *out_vm = to_handle(as_backend<B>(b)->restore(params));
    });
  }
  static hal_status vm_attach_device(hal_vm *vm, const char *device, uint32_t flags, hal_error *e) {
    return guard("vm_attach_device", e, [&] {
      check_arg("vm_attach_device", vm, "vm");
      check_arg("vm_attach_device", device, "device_json");
      check_flags("vm_attach_device", flags, 0);
      as_vm<V>(vm)->attach_device(device);
    });
  }
  static hal_status vm_detach_device(hal_vm *vm, const char *name, uint32_t flags, hal_error *e) {
    return guard("vm_detach_device", e, [&] {
      check_arg("vm_detach_device", vm, "vm");
      check_arg("vm_detach_device", name, "device_name");
      check_flags("vm_detach_device", flags, 0);
      as_vm<V>(vm)->detach_device(name);
    });
  }
};

/** Which optional entries the classes implement (see OPTIONAL ENTRIES above). */
template <class B, class V>
struct Implements {
  static constexpr bool pause = declared_in_v<V, decltype(&V::pause)>;
  static constexpr bool resume = declared_in_v<V, decltype(&V::resume)>;
  static constexpr bool shutdown = declared_in_v<V, decltype(&V::shutdown)>;
  static constexpr bool reboot = declared_in_v<V, decltype(&V::reboot)>;
  static constexpr bool reset = declared_in_v<V, decltype(&V::reset)>;
  static constexpr bool console = declared_in_v<V, decltype(&V::console)>;
  static constexpr bool prepare_incoming = declared_in_v<B, decltype(&B::prepare_incoming)>;
  static constexpr bool migration_send = declared_in_v<V, decltype(&V::migration_send)>;
  static constexpr bool migration_progress = declared_in_v<V, decltype(&V::migration_progress)>;
  static constexpr bool migration_cancel = declared_in_v<V, decltype(&V::migration_cancel)>;
  static constexpr bool snapshot = declared_in_v<V, decltype(&V::snapshot)>;
  static constexpr bool restore = declared_in_v<B, decltype(&B::restore)>;
  static constexpr bool attach_device = declared_in_v<V, decltype(&V::attach_device)>;
  static constexpr bool detach_device = declared_in_v<V, decltype(&V::detach_device)>;
  static_assert(!migration_send || (migration_progress && migration_cancel),
                "hal.h: migration_get_progress and migration_cancel are REQUIRED with "
                "migration_send");
};

/** The open thunks of every minor, indexed by minor. */
template <class T, std::size_t... Minor>
constexpr std::array<decltype(hal_backend_table::open), sizeof...(Minor)> open_thunks(
    std::index_sequence<Minor...>) {
  return {{&T::template open<static_cast<uint32_t>(Minor)>...}};
}

/** True when an entry added in ABI 1.`since` belongs to the table of ABI 1.`minor`. */
constexpr bool entry_in_minor(uint32_t since, uint32_t minor) {
  return since <= minor;
}

/** Builds the table for ABI minor `minor` (0 to HAL_ABI_VERSION_MINOR): unimplemented optional
 *  entries and entries newer than `minor` are NULL, and struct_size ends before the first newer
 *  one (include/hal/table_entries.h says which minor added each). */
template <class B, class V, const char *(*Identity)()>
constexpr hal_backend_table make_table(uint32_t minor) {
  using T = Thunks<B, V, Identity>;
  using I = Implements<B, V>;
  hal_backend_table t{};
  std::size_t size = sizeof(hal_backend_table);
#define HAL_PLUGIN_SIZE_(member, required, since)                                  \
  if (!entry_in_minor(since, minor) && offsetof(hal_backend_table, member) < size) \
    size = offsetof(hal_backend_table, member);
  HAL_TABLE_ENTRIES(HAL_PLUGIN_SIZE_)
#undef HAL_PLUGIN_SIZE_
  t.struct_size = static_cast<uint32_t>(size);
  t.abi_version = HAL_MAKE_VERSION(1, minor);
  t.get_identity = &T::get_identity;
  t.free_string = &T::free_string;
  t.open = open_thunks<T>(std::make_index_sequence<HAL_ABI_VERSION_MINOR + 1>{})[minor];
  t.close = &T::close;
  t.get_capabilities = &T::get_capabilities;
  t.get_host_info = &T::get_host_info;
  t.vm_create = &T::vm_create;
  t.vm_lookup = &T::vm_lookup;
  t.vm_release = &T::vm_release;
  t.vm_list = &T::vm_list;
  t.vm_start = &T::vm_start;
  t.vm_force_stop = &T::vm_force_stop;
  t.vm_delete = &T::vm_delete;
  t.vm_get_state = &T::vm_get_state;
  t.vm_get_info = &T::vm_get_info;
  if constexpr (I::pause) t.vm_pause = &T::vm_pause;
  if constexpr (I::resume) t.vm_resume = &T::vm_resume;
  if constexpr (I::shutdown) t.vm_shutdown = &T::vm_shutdown;
  if constexpr (I::reboot) t.vm_reboot = &T::vm_reboot;
  if constexpr (I::reset) t.vm_reset = &T::vm_reset;
  if constexpr (I::console) t.vm_get_console = &T::vm_get_console;
  if constexpr (I::prepare_incoming) t.migration_prepare_incoming = &T::prepare_incoming;
  if constexpr (I::migration_send) t.migration_send = &T::migration_send;
  if constexpr (I::migration_progress) t.migration_get_progress = &T::migration_get_progress;
  if constexpr (I::migration_cancel) t.migration_cancel = &T::migration_cancel;
  if constexpr (I::snapshot) t.vm_snapshot = &T::vm_snapshot;
  if constexpr (I::restore) t.vm_restore = &T::vm_restore;
  if constexpr (I::attach_device) t.vm_attach_device = &T::vm_attach_device;
  if constexpr (I::detach_device) t.vm_detach_device = &T::vm_detach_device;
#define HAL_PLUGIN_DROP_NEWER_(member, required, since) \
  if (!entry_in_minor(since, minor)) t.member = nullptr;
  HAL_TABLE_ENTRIES(HAL_PLUGIN_DROP_NEWER_)
#undef HAL_PLUGIN_DROP_NEWER_
  return t;
}

/** The tables of every minor this plugin speaks, indexed by minor. */
template <class B, class V, const char *(*Identity)()>
constexpr std::array<hal_backend_table, HAL_ABI_VERSION_MINOR + 1> make_tables() {
  std::array<hal_backend_table, HAL_ABI_VERSION_MINOR + 1> tables{};
  for (uint32_t minor = 0; minor <= HAL_ABI_VERSION_MINOR; ++minor)
    tables[minor] = make_table<B, V, Identity>(minor);
  return tables;
}

/** The static tables, one per minor this plugin speaks. */
template <class B, class V, const char *(*Identity)()>
struct Tables {
  static constexpr std::array<hal_backend_table, HAL_ABI_VERSION_MINOR + 1> by_minor =
      make_tables<B, V, Identity>();
};

/** The identity used for tables built only to inspect them (operations_json); never answered. */
inline const char *no_identity() {
  return "{}";
}

/** hal_plugin_negotiate's body. */
template <class B, class V, const char *(*Identity)()>
hal_status negotiate(uint32_t host_abi_version, uint32_t flags, const hal_backend_table **out,
                     hal_error *error) noexcept {
  if (out != nullptr) *out = nullptr;
  return guard("hal_plugin_negotiate", error, [&] {
    check_arg("hal_plugin_negotiate", out, "out_table");
    check_flags("hal_plugin_negotiate", flags, 0);
    uint32_t major = HAL_VERSION_MAJOR(host_abi_version);
    uint32_t minor = HAL_VERSION_MINOR(host_abi_version);
    if (major != HAL_ABI_VERSION_MAJOR) {
      char buffer[200];
      std::snprintf(
          buffer, sizeof buffer, "plugin speaks HAL ABI %d.0 to %d.%d; host offered %u.%u",
          HAL_ABI_VERSION_MAJOR, HAL_ABI_VERSION_MAJOR, HAL_ABI_VERSION_MINOR, major, minor);
      throw Failure(HAL_FAILED_PRECONDITION, buffer);
    }
    *out = &Tables<B, V, Identity>::by_minor[std::min<uint32_t>(minor, HAL_ABI_VERSION_MINOR)];
  });
}

}  // namespace detail

/** The capabilities "operations" object as JSON text: one bool per table entry, keyed by the
 *  entry's name, true exactly when the table of `abi_version` has it (required entries always;
 *  optional ones as implemented and known to that minor). Pass Backend::abi_version(). */
template <class B, class V>
std::string operations_json(uint32_t abi_version) {
  const uint32_t minor = std::min<uint32_t>(HAL_VERSION_MINOR(abi_version), HAL_ABI_VERSION_MINOR);
  constexpr hal_backend_table table =
      detail::make_table<B, V, &detail::no_identity>(HAL_ABI_VERSION_MINOR);
  std::string out = "{";
  auto add = [&](const char *name, bool present) {
    if (out.size() > 1) out += ',';
    out += '"';
    out += name;
    out += present ? "\":true" : "\":false";
  };
#define HAL_PLUGIN_OPERATION_(member, required, since) \
  add(#member, table.member != nullptr && detail::entry_in_minor(since, minor));
  HAL_TABLE_ENTRIES(HAL_PLUGIN_OPERATION_)
#undef HAL_PLUGIN_OPERATION_
  return out + "}";
}

}  // namespace hal::plugin

/** Defines the plugin's exported hal_plugin_negotiate for BackendClass/VmClass. Use once per
 *  shared object, at namespace scope. `identity_json` is a string literal. */
#define HAL_DEFINE_PLUGIN(BackendClass, VmClass, identity_json)                                 \
  namespace {                                                                                   \
  const char *hal_plugin_identity_json_() {                                                     \
    return identity_json;                                                                       \
  }                                                                                             \
  }                                                                                             \
  extern "C" HAL_PLUGIN_EXPORT hal_status hal_plugin_negotiate(                                 \
      uint32_t host_abi_version, uint32_t flags, const hal_backend_table **out_table,           \
      hal_error *error) {                                                                       \
    return ::hal::plugin::detail::negotiate<BackendClass, VmClass, &hal_plugin_identity_json_>( \
        host_abi_version, flags, out_table, error);                                             \
  }                                                                                             \
  static_assert(true, "")

#endif  // HAL_PLUGIN_HPP
