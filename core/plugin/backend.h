// backend.h - the C++ host API over a loaded plugin: hal::Backend (an open backend instance with
// an event dispatcher thread), hal::Vm (RAII over hal_vm*) and hal::Event.
#ifndef HAL_CORE_PLUGIN_BACKEND_H
#define HAL_CORE_PLUGIN_BACKEND_H

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "core/plugin/plugin.h"
#include "hal/hal.h"

namespace hal {

namespace detail {
class BackendState;
}

/** One event, copied out of the plugin's callback and delivered on the dispatcher thread. */
struct Event {
  hal_event_type type = 0;                    ///< HAL_EVENT_*.
  std::string vm_id;                          ///< The VM's id.
  hal_vm_state state = HAL_VM_STATE_UNKNOWN;  ///< The VM's state after the event.
  uint64_t timestamp_ns = 0;                  ///< CLOCK_REALTIME ns since the epoch.
  nlohmann::json detail;  ///< Parsed detail_json (null when absent or unparsable).
};

/** A handle on one VM (RAII over hal_vm*: released on destruction; the VM itself is unaffected).
 *  Move-only. Calls that hal.h requires to be serialised per VM are serialised across every
 *  handle of that VM opened through the same Backend. Failures throw hal::Error. */
class Vm {
 public:
  Vm() = default;
  Vm(Vm &&) noexcept;
  Vm &operator=(Vm &&) noexcept;
  ~Vm();

  /** False for an empty handle (e.g. create() with HAL_CREATE_VALIDATE_ONLY). */
  explicit operator bool() const noexcept { return vm_ != nullptr; }
  /** The VM id (its spec name). */
  const std::string &id() const noexcept { return id_; }
  /** The raw handle (owned by this object). */
  hal_vm *raw() const noexcept { return vm_; }
  /** Releases the handle now (vm_release). */
  void release() noexcept;

  void start(uint32_t flags = 0);       ///< vm_start (HAL_START_PAUSED).
  void force_stop(uint32_t flags = 0);  ///< vm_force_stop.
  void delete_vm(uint32_t flags = 0);   ///< vm_delete (HAL_DELETE_STORAGE); handle stays valid.
  hal_vm_state state(uint32_t flags = 0) const;   ///< vm_get_state.
  nlohmann::json info(uint32_t flags = 0) const;  ///< vm_get_info.
  void pause(uint32_t flags = 0);                 ///< vm_pause.
  void resume(uint32_t flags = 0);                ///< vm_resume.
  /** vm_shutdown with `timeout` (HAL_SHUTDOWN_NO_FORCE). */
  void shutdown(std::chrono::milliseconds timeout, uint32_t flags = 0);
  void reboot(uint32_t flags = 0);                   ///< vm_reboot.
  void reset(uint32_t flags = 0);                    ///< vm_reset.
  nlohmann::json console(uint32_t flags = 0) const;  ///< vm_get_console.
  /** migration_send with {"uri", "maxDowntimeMs", ...}. */
  void migration_send(const nlohmann::json &params, uint32_t flags = 0);
  nlohmann::json migration_progress(uint32_t flags = 0) const;  ///< migration_get_progress.
  void migration_cancel(uint32_t flags = 0);                    ///< migration_cancel.
  /** vm_snapshot with {"destination": dir}. */
  void snapshot(const nlohmann::json &params, uint32_t flags = 0);
  /** vm_attach_device with {"kind":"disk"|"nic", ...}. */
  void attach_device(const nlohmann::json &device, uint32_t flags = 0);
  /** vm_detach_device by device name. */
  void detach_device(std::string_view name, uint32_t flags = 0);

 private:
  friend class Backend;
  Vm(std::shared_ptr<detail::BackendState> backend, hal_vm *vm, std::string id);

  std::shared_ptr<detail::BackendState> backend_;
  std::shared_ptr<std::mutex> lock_;  // per-VM serialisation
  hal_vm *vm_ = nullptr;
  std::string id_;
};

/** An open backend instance of a plugin. Move-only. Events reach subscribers in order, one at a
 *  time, from its dispatcher thread or a thread draining them; subscribers may call back into
 *  the backend. The plugin's close()
 *  runs once the Backend and every Vm obtained from it are gone (or on close()). */
class Backend {
 public:
  /** Subscriber to events. */
  using Subscriber = std::function<void(const Event &)>;
  /** Identifies a subscription for unsubscribe(). */
  using SubscriptionId = uint64_t;

  /** Opens a backend instance of `plugin` with its configuration (object; {} for defaults). */
  static Backend open(std::shared_ptr<const Plugin> plugin,
                      const nlohmann::json &config = nlohmann::json::object(), uint32_t flags = 0);

  Backend(Backend &&) noexcept;
  Backend &operator=(Backend &&) noexcept;
  ~Backend();

  /** The plugin this instance belongs to (not on a moved-from Backend). */
  const Plugin &plugin() const noexcept;
  /** get_capabilities. */
  nlohmann::json capabilities(uint32_t flags = 0) const;
  /** get_host_info. */
  nlohmann::json host_info(uint32_t flags = 0) const;
  /** Validates `spec` (HAL_INVALID_ARGUMENT naming the field) and calls vm_create. With
   *  HAL_CREATE_VALIDATE_ONLY the returned Vm is empty; with it and HAL_CREATE_START together,
   *  HAL_INVALID_ARGUMENT without calling the plugin. */
  Vm create(const nlohmann::json &spec, uint32_t flags = 0);
  /** vm_lookup by id; throws hal::Error(HAL_NOT_FOUND) when there is no such VM. */
  Vm lookup(std::string_view id, uint32_t flags = 0);
  /** vm_lookup by id; nullopt when there is no such VM (no exception: for probing). */
  std::optional<Vm> find(std::string_view id, uint32_t flags = 0);
  /** vm_list: {"vms":[{"id","state"}...]}. */
  nlohmann::json list(uint32_t flags = 0) const;

  /** What migration_prepare_incoming answers. */
  struct Incoming {
    Vm vm;                    ///< The INCOMING VM.
    nlohmann::json endpoint;  ///< {"uri": ...} for migration_send on the source.
  };
  /** Validates `spec` and calls migration_prepare_incoming (params may be null). */
  Incoming migration_prepare_incoming(const nlohmann::json &spec,
                                      const nlohmann::json &params = nullptr, uint32_t flags = 0);
  /** vm_restore from {"source": dir}. */
  Vm restore(const nlohmann::json &params, uint32_t flags = 0);

  /** Adds a subscriber; it may call into the backend. Subscribers see events one at a time, in
   *  the order the plugin emitted them, on the dispatcher thread or on a thread that waits for
   *  them (drain_events(), the end of a DeliveryHere). */
  SubscriptionId on_event(Subscriber subscriber);
  /** Removes a subscriber (it may still receive an event being delivered right now). */
  void unsubscribe(SubscriptionId id);
  /** Blocks until every event queued so far has been delivered, delivering them on this thread
   *  while the dispatcher is not busy. Not from a subscriber. */
  void drain_events();

  /** For a caller that acts on the backend and then waits for the events of its actions: while
   *  alive, events the plugin emits on this thread (inside this thread's calls) are queued
   *  without waking the dispatcher, and its end delivers every queued event on this thread, as
   *  drain_events() does. That saves the two thread hand-offs of a dispatcher round trip. Not
   *  from a subscriber; one thread, one scope at a time per backend. */
  class DeliveryHere {
   public:
    /** Starts deferring the events `backend`'s plugin emits on this thread. */
    explicit DeliveryHere(Backend &backend);
    /** Delivers every queued event on this thread. */
    ~DeliveryHere();
    DeliveryHere(const DeliveryHere &) = delete;
    DeliveryHere &operator=(const DeliveryHere &) = delete;

   private:
    std::shared_ptr<detail::BackendState> state_;
    detail::BackendState *outer_;
  };

  /** Closes the instance now (close(flags)); throws HAL_FAILED_PRECONDITION while Vm handles
   *  obtained from it are alive, HAL_INVALID_ARGUMENT for KEEP_VMS with STOP_VMS (the plugin is
   *  not called; the instance stays open). Pending events are delivered first. */
  void close(uint32_t flags = 0);

 private:
  explicit Backend(std::shared_ptr<detail::BackendState> state);
  detail::BackendState &shared() const;  // throws on a moved-from Backend
  // vm_lookup: the VM, or nullopt with the plugin's message in `missing` when it answers
  // NOT_FOUND.
  std::optional<Vm> lookup_or_missing(std::string_view id, uint32_t flags, std::string &missing);
  std::shared_ptr<detail::BackendState> state_;
};

/** Validates a VM spec with the core spec validator; throws hal::Error(HAL_INVALID_ARGUMENT)
 *  naming the offending fields. */
void validate_spec_or_throw(const nlohmann::json &spec);

}  // namespace hal

#endif  // HAL_CORE_PLUGIN_BACKEND_H
