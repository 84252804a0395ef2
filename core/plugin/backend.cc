// backend.cc - hal::Backend, hal::Vm and the event dispatcher: every call goes through
// HAL_PLUGIN_CALL (guarded, HAL_UNSUPPORTED for missing entries).
#include "core/plugin/backend.h"

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <map>
#include <thread>
#include <unordered_map>

#include "core/log/log.h"
#include "core/spec/vm_spec_validation.h"
#include "hal/plugin.hpp"

namespace hal {
namespace detail {

// An event as copied out of the plugin's callback (detail not yet parsed).
struct RawEvent {
  Event event;
  std::string detail;
  bool has_detail = false;
};

class BackendState;

// The backend whose events this thread delivers itself (inside a Backend::DeliveryHere).
thread_local BackendState *t_delivering_here = nullptr;

// Shared by a Backend and every Vm obtained from it; closes the plugin's backend when the last
// of them goes.
class BackendState {
 public:
  explicit BackendState(std::shared_ptr<const Plugin> p) : plugin(std::move(p)) {}
  ~BackendState() {
    if (backend != nullptr) {
      ErrorBuffer err;
      hal_status st = HAL_PLUGIN_CALL(*plugin, close, err.get(), backend, HAL_FLAGS_NONE);
      if (st != HAL_OK) {
        hal::log("plugin")->warn("backend {}: close failed ({}): {}", plugin->name(),
                                 status_name(st), err.message());
      }
      backend = nullptr;
    }
    stop_dispatcher();
  }

  // The C callback: copies the event and enqueues it; never calls into the plugin.
  static void on_event(void *user_data, const hal_event *ev) noexcept {
    if (user_data == nullptr || ev == nullptr) return;
    auto *self = static_cast<BackendState *>(user_data);
    try {
      RawEvent raw;
      const std::size_t size = ev->struct_size;
#define HAL_EVENT_COVERS(member) (offsetof(hal_event, member) + sizeof(ev->member) <= size)
      if (HAL_EVENT_COVERS(type)) raw.event.type = ev->type;
      if (HAL_EVENT_COVERS(vm_id) && ev->vm_id) raw.event.vm_id = ev->vm_id;
      if (HAL_EVENT_COVERS(state)) raw.event.state = ev->state;
      if (HAL_EVENT_COVERS(timestamp_ns)) raw.event.timestamp_ns = ev->timestamp_ns;
      if (HAL_EVENT_COVERS(detail_json) && ev->detail_json) {
        raw.detail = ev->detail_json;
        raw.has_detail = true;
      }
#undef HAL_EVENT_COVERS
      std::lock_guard lock(self->mu);
      if (self->stopping) return;
      self->queue.push_back(std::move(raw));
      ++self->enqueued;
      // A thread that delivers its own events (Backend::DeliveryHere) leaves the dispatcher be.
      if (t_delivering_here != self) self->cv.notify_one();
    } catch (...) {  // out of memory: drop the event rather than unwind into the plugin
    }
  }

  void start_dispatcher() {
    dispatcher = std::thread([this] { run(); });
  }

  // Delivers what is queued, then ends the dispatcher thread.
  void stop_dispatcher() {
    {
      std::lock_guard lock(mu);
      stopping = true;
      cv.notify_all();
    }
    if (dispatcher.joinable()) {
      if (dispatcher.get_id() == std::this_thread::get_id()) {
        dispatcher.detach();
      } else {
        dispatcher.join();
      }
    }
  }

  // The dispatcher thread: delivers queued events while no other thread is delivering.
  void run() {
    std::unique_lock lock(mu);
    for (;;) {
      cv.wait(lock, [&] { return stopping || (!queue.empty() && !delivering); });
      if (!queue.empty() && !delivering) {
        deliver_front(lock);
      } else if (queue.empty()) {
        return;  // stopping, and nothing is left to deliver
      }
    }
  }

  // Blocks until every event queued so far has been delivered, delivering each on this thread
  // whenever no other thread is delivering.
  void drain() {
    std::unique_lock lock(mu);
    const uint64_t target = enqueued;
    while (delivered < target && !(stopping && queue.empty() && !delivering)) {
      if (!queue.empty() && !delivering) {
        deliver_front(lock);
      } else {
        idle_cv.wait(lock);
      }
    }
    if (!queue.empty() || stopping) cv.notify_one();  // what came meanwhile: the dispatcher's
  }

  // Delivers the oldest queued event to every subscriber with `lock` (on `mu`) released; one
  // thread at a time delivers, so subscribers see events one by one and in order.
  void deliver_front(std::unique_lock<std::mutex> &lock) {
    RawEvent raw = std::move(queue.front());
    queue.pop_front();
    delivering = true;
    lock.unlock();
    deliver(raw);
    lock.lock();
    delivering = false;
    ++delivered;
    idle_cv.notify_all();
  }

  void deliver(RawEvent &raw) {
    if (raw.has_detail) {
      raw.event.detail = nlohmann::json::parse(raw.detail, nullptr, /*allow_exceptions=*/false);
      if (raw.event.detail.is_discarded()) {
        hal::log("plugin")->warn("backend {}: event detail is not JSON: {}", plugin->name(),
                                 raw.detail);
        raw.event.detail = nullptr;
      }
    }
    std::vector<Backend::Subscriber> subs;
    {
      std::lock_guard lock(sub_mu);
      for (auto &[id, s] : subscribers) subs.push_back(s);
    }
    for (auto &s : subs) {
      try {
        s(raw.event);
      } catch (const std::exception &e) {
        hal::log("plugin")->error("event subscriber threw: {}", e.what());
      } catch (...) {
        hal::log("plugin")->error("event subscriber threw");
      }
    }
  }

  // The per-VM lock shared by every handle on VM `id`.
  std::shared_ptr<std::mutex> lock_for(const std::string &id) {
    std::lock_guard lock(locks_mu);
    auto &weak = vm_locks[id];
    auto strong = weak.lock();
    if (!strong) {
      strong = std::make_shared<std::mutex>();
      weak = strong;
    }
    if (vm_locks.size() > 64) {
      for (auto it = vm_locks.begin(); it != vm_locks.end();) {
        it = it->second.expired() ? vm_locks.erase(it) : std::next(it);
      }
    }
    return strong;
  }

  hal_backend *need_open() const {
    if (backend == nullptr) {
      throw Error(HAL_FAILED_PRECONDITION, "backend " + plugin->name() + " is closed");
    }
    return backend;
  }

  std::shared_ptr<const Plugin> plugin;
  hal_backend *backend = nullptr;
  std::atomic<int> live_vms{0};

  std::mutex mu;
  std::condition_variable cv, idle_cv;
  std::deque<RawEvent> queue;
  uint64_t enqueued = 0, delivered = 0;
  bool delivering = false;  // a thread (the dispatcher or a drainer) is delivering an event
  bool stopping = false;
  std::thread dispatcher;

  std::mutex sub_mu;
  std::map<Backend::SubscriptionId, Backend::Subscriber> subscribers;
  Backend::SubscriptionId next_id = 1;

  std::mutex locks_mu;
  std::unordered_map<std::string, std::weak_ptr<std::mutex>> vm_locks;
};

}  // namespace detail

namespace {

// Runs `call(char **out, hal_error *err)` and parses the string it returns.
template <class F>
nlohmann::json json_result(const Plugin &plugin, std::string_view what, F &&call) {
  OwnedString out(plugin.free_fn());
  ErrorBuffer err;
  hal_status st = call(out.out(), err.get());
  check(st, err, what);
  if (!out) return nullptr;
  auto doc = nlohmann::json::parse(out.view(), nullptr, false);
  if (doc.is_discarded()) {
    throw Error(HAL_INTERNAL,
                std::string(what) + ": plugin " + plugin.name() + " returned invalid JSON");
  }
  return doc;
}

// hal.h makes some flag pairs exclusive; the host refuses them itself, so no plugin, however
// lax, ever receives one. The words are plugin.hpp's, which refuses them in every plugin it
// builds.
void refuse_exclusive(const std::string &what, uint32_t flags, uint32_t first,
                      const char *first_name, uint32_t second, const char *second_name) {
  std::string conflict =
      hal::plugin::exclusive_flags_conflict(flags, first, first_name, second, second_name);
  if (conflict.empty()) return;
  throw Error(HAL_INVALID_ARGUMENT, what + ": " + conflict);
}

std::string spec_name(const nlohmann::json &spec) {
  auto it = spec.find("name");
  return it != spec.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

void validate_spec_or_throw(const nlohmann::json &spec) {
  auto errors = validate_vm_spec(spec);
  if (!errors.empty()) {
    std::string text;
    for (char c : format_errors(errors)) {
      if (c == '\n') {
        text += "; ";
      } else {
        text += c;
      }
    }
    throw Error(HAL_INVALID_ARGUMENT, "invalid VM spec: " + text);
  }
}

// ---- Vm ---------------------------------------------------------------------------------------

Vm::Vm(std::shared_ptr<detail::BackendState> backend, hal_vm *vm, std::string id)
    : backend_(std::move(backend)), vm_(vm), id_(std::move(id)) {
  ++backend_->live_vms;
  lock_ = backend_->lock_for(id_);
}

Vm::Vm(Vm &&o) noexcept
    : backend_(std::move(o.backend_)),
      lock_(std::move(o.lock_)),
      vm_(std::exchange(o.vm_, nullptr)),
      id_(std::move(o.id_)) {}

Vm &Vm::operator=(Vm &&o) noexcept {
  if (this != &o) {
    release();
    backend_ = std::move(o.backend_);
    lock_ = std::move(o.lock_);
    vm_ = std::exchange(o.vm_, nullptr);
    id_ = std::move(o.id_);
  }
  return *this;
}

Vm::~Vm() {
  release();
}

void Vm::release() noexcept {
  if (vm_ != nullptr && backend_) {
    auto release_fn = backend_->plugin->table()->vm_release;
    ErrorBuffer err;
    guarded_call("vm_release", err.get(), [&] {
      release_fn(vm_);
      return HAL_OK;
    });
    --backend_->live_vms;
  }
  vm_ = nullptr;
  lock_.reset();
  backend_.reset();
}

#define HAL_VM_NEED()                                                            \
  do {                                                                           \
    if (vm_ == nullptr) throw Error(HAL_FAILED_PRECONDITION, "empty VM handle"); \
  } while (0)

// A serialised call returning only a status.
#define HAL_VM_CALL(member, ...)                                                          \
  do {                                                                                    \
    HAL_VM_NEED();                                                                        \
    std::lock_guard vm_lock_(*lock_);                                                     \
    ErrorBuffer err_;                                                                     \
    hal_status st_ = HAL_PLUGIN_CALL(*backend_->plugin, member, err_.get(), __VA_ARGS__); \
    check(st_, err_, #member " " + id_);                                                  \
  } while (0)

void Vm::start(uint32_t flags) {
  HAL_VM_CALL(vm_start, vm_, flags);
}
void Vm::force_stop(uint32_t flags) {
  HAL_VM_CALL(vm_force_stop, vm_, flags);
}
void Vm::delete_vm(uint32_t flags) {
  HAL_VM_CALL(vm_delete, vm_, flags);
}
void Vm::pause(uint32_t flags) {
  HAL_VM_CALL(vm_pause, vm_, flags);
}
void Vm::resume(uint32_t flags) {
  HAL_VM_CALL(vm_resume, vm_, flags);
}
void Vm::reboot(uint32_t flags) {
  HAL_VM_CALL(vm_reboot, vm_, flags);
}
void Vm::reset(uint32_t flags) {
  HAL_VM_CALL(vm_reset, vm_, flags);
}
void Vm::migration_cancel(uint32_t flags) {
  HAL_VM_CALL(migration_cancel, vm_, flags);
}

void Vm::shutdown(std::chrono::milliseconds timeout, uint32_t flags) {
  auto ms = timeout.count() < 0 ? 0 : timeout.count();
  auto clamped = static_cast<uint32_t>(std::min<long long>(ms, UINT32_MAX));
  HAL_VM_CALL(vm_shutdown, vm_, clamped, flags);
}

void Vm::migration_send(const nlohmann::json &params, uint32_t flags) {
  const std::string text = params.dump();
  HAL_VM_CALL(migration_send, vm_, text.c_str(), flags);
}

void Vm::snapshot(const nlohmann::json &params, uint32_t flags) {
  const std::string text = params.dump();
  HAL_VM_CALL(vm_snapshot, vm_, text.c_str(), flags);
}

void Vm::attach_device(const nlohmann::json &device, uint32_t flags) {
  const std::string text = device.dump();
  HAL_VM_CALL(vm_attach_device, vm_, text.c_str(), flags);
}

void Vm::detach_device(std::string_view name, uint32_t flags) {
  const std::string text(name);
  HAL_VM_CALL(vm_detach_device, vm_, text.c_str(), flags);
}

hal_vm_state Vm::state(uint32_t flags) const {
  HAL_VM_NEED();
  ErrorBuffer err;
  hal_vm_state s = HAL_VM_STATE_UNKNOWN;
  hal_status st = HAL_PLUGIN_CALL(*backend_->plugin, vm_get_state, err.get(), vm_, flags, &s);
  if (st != HAL_OK) check(st, err, "vm_get_state " + id_);
  return s;
}

nlohmann::json Vm::info(uint32_t flags) const {
  HAL_VM_NEED();
  const Plugin &p = *backend_->plugin;
  return json_result(p, "vm_get_info " + id_, [&](char **out, hal_error *err) {
    return HAL_PLUGIN_CALL(p, vm_get_info, err, vm_, flags, out);
  });
}

nlohmann::json Vm::migration_progress(uint32_t flags) const {
  HAL_VM_NEED();
  const Plugin &p = *backend_->plugin;
  return json_result(p, "migration_get_progress " + id_, [&](char **out, hal_error *err) {
    return HAL_PLUGIN_CALL(p, migration_get_progress, err, vm_, flags, out);
  });
}

nlohmann::json Vm::console(uint32_t flags) const {
  HAL_VM_NEED();
  std::lock_guard lock(*lock_);
  const Plugin &p = *backend_->plugin;
  return json_result(p, "vm_get_console " + id_, [&](char **out, hal_error *err) {
    return HAL_PLUGIN_CALL(p, vm_get_console, err, vm_, flags, out);
  });
}

#undef HAL_VM_CALL
#undef HAL_VM_NEED

// ---- Backend ----------------------------------------------------------------------------------

Backend::Backend(std::shared_ptr<detail::BackendState> state) : state_(std::move(state)) {}
Backend::Backend(Backend &&) noexcept = default;
Backend &Backend::operator=(Backend &&o) noexcept {
  if (this != &o) {
    if (state_) state_->stop_dispatcher();
    state_ = std::move(o.state_);
  }
  return *this;
}

Backend::~Backend() {
  if (state_) {
    state_->stop_dispatcher();
    {
      std::lock_guard lock(state_->sub_mu);
      state_->subscribers.clear();
    }
  }
}

Backend Backend::open(std::shared_ptr<const Plugin> plugin, const nlohmann::json &config,
                      uint32_t flags) {
  if (!plugin) throw Error(HAL_INVALID_ARGUMENT, "Backend::open: no plugin");
  auto state = std::make_shared<detail::BackendState>(std::move(plugin));
  state->start_dispatcher();
  const std::string text = config.is_null() ? "{}" : config.dump();
  ErrorBuffer err;
  hal_backend *b = nullptr;
  hal_status st = HAL_PLUGIN_CALL(*state->plugin, open, err.get(), text.c_str(),
                                  &detail::BackendState::on_event, state.get(), flags, &b);
  check(st, err, "open backend " + state->plugin->name());
  if (b == nullptr) {
    throw Error(HAL_INTERNAL, "open backend " + state->plugin->name() + ": returned NULL");
  }
  state->backend = b;
  return Backend(std::move(state));
}

const Plugin &Backend::plugin() const noexcept {
  return *state_->plugin;
}

detail::BackendState &Backend::shared() const {
  if (!state_) throw Error(HAL_FAILED_PRECONDITION, "empty (moved-from) Backend");
  return *state_;
}

nlohmann::json Backend::capabilities(uint32_t flags) const {
  hal_backend *b = shared().need_open();
  const Plugin &p = *shared().plugin;
  return json_result(p, "get_capabilities", [&](char **out, hal_error *err) {
    return HAL_PLUGIN_CALL(p, get_capabilities, err, b, flags, out);
  });
}

nlohmann::json Backend::host_info(uint32_t flags) const {
  hal_backend *b = shared().need_open();
  const Plugin &p = *shared().plugin;
  return json_result(p, "get_host_info", [&](char **out, hal_error *err) {
    return HAL_PLUGIN_CALL(p, get_host_info, err, b, flags, out);
  });
}

nlohmann::json Backend::list(uint32_t flags) const {
  hal_backend *b = shared().need_open();
  const Plugin &p = *shared().plugin;
  return json_result(p, "vm_list", [&](char **out, hal_error *err) {
    return HAL_PLUGIN_CALL(p, vm_list, err, b, flags, out);
  });
}

Vm Backend::create(const nlohmann::json &spec, uint32_t flags) {
  hal_backend *b = shared().need_open();
  validate_spec_or_throw(spec);
  const std::string text = spec.dump();
  const std::string id = spec_name(spec);
  refuse_exclusive("vm_create " + id, flags, HAL_CREATE_VALIDATE_ONLY, "HAL_CREATE_VALIDATE_ONLY",
                   HAL_CREATE_START, "HAL_CREATE_START");
  ErrorBuffer err;
  hal_vm *vm = nullptr;
  hal_status st =
      HAL_PLUGIN_CALL(*shared().plugin, vm_create, err.get(), b, text.c_str(), flags, &vm);
  check(st, err, "vm_create " + id);
  if (vm == nullptr) return Vm();
  return Vm(state_, vm, id);
}

Vm Backend::lookup(std::string_view id, uint32_t flags) {
  std::string missing;
  std::optional<Vm> vm = lookup_or_missing(id, flags, missing);
  if (!vm)
    throw Error(HAL_NOT_FOUND,
                "vm_lookup " + std::string(id) + ": " +
                    (missing.empty() ? std::string(status_name(HAL_NOT_FOUND)) : missing));
  return std::move(*vm);
}

std::optional<Vm> Backend::find(std::string_view id, uint32_t flags) {
  std::string missing;
  return lookup_or_missing(id, flags, missing);
}

std::optional<Vm> Backend::lookup_or_missing(std::string_view id, uint32_t flags,
                                             std::string &missing) {
  hal_backend *b = shared().need_open();
  const std::string vm_id(id);
  ErrorBuffer err;
  hal_vm *vm = nullptr;
  hal_status st =
      HAL_PLUGIN_CALL(*shared().plugin, vm_lookup, err.get(), b, vm_id.c_str(), flags, &vm);
  if (st == HAL_NOT_FOUND && vm == nullptr) {
    missing = std::string(err.message());
    return std::nullopt;
  }
  check(st, err, "vm_lookup " + vm_id);
  if (vm == nullptr) throw Error(HAL_INTERNAL, "vm_lookup " + vm_id + ": returned NULL");
  return Vm(state_, vm, vm_id);
}

Backend::Incoming Backend::migration_prepare_incoming(const nlohmann::json &spec,
                                                      const nlohmann::json &params,
                                                      uint32_t flags) {
  hal_backend *b = shared().need_open();
  validate_spec_or_throw(spec);
  const std::string text = spec.dump();
  const std::string params_text = params.is_null() ? std::string() : params.dump();
  const std::string id = spec_name(spec);
  const Plugin &p = *shared().plugin;
  hal_vm *vm = nullptr;
  Incoming result;
  result.endpoint =
      json_result(p, "migration_prepare_incoming " + id, [&](char **out, hal_error *err) {
        return HAL_PLUGIN_CALL(p, migration_prepare_incoming, err, b, text.c_str(),
                               params.is_null() ? nullptr : params_text.c_str(), flags, &vm, out);
      });
  if (vm == nullptr) {
    throw Error(HAL_INTERNAL, "migration_prepare_incoming " + id + ": returned NULL");
  }
  result.vm = Vm(state_, vm, id);
  return result;
}

Vm Backend::restore(const nlohmann::json &params, uint32_t flags) {
  hal_backend *b = shared().need_open();
  const std::string text = params.dump();
  ErrorBuffer err;
  hal_vm *raw = nullptr;
  hal_status st =
      HAL_PLUGIN_CALL(*shared().plugin, vm_restore, err.get(), b, text.c_str(), flags, &raw);
  check(st, err, "vm_restore");
  if (raw == nullptr) throw Error(HAL_INTERNAL, "vm_restore: returned NULL");
  // The id comes from the restored VM's info.
  std::string id;
  {
    OwnedString out(shared().plugin->free_fn());
    ErrorBuffer ierr;
    if (HAL_PLUGIN_CALL(*shared().plugin, vm_get_info, ierr.get(), raw, 0u, out.out()) == HAL_OK) {
      auto doc = nlohmann::json::parse(out.view(), nullptr, false);
      if (doc.is_object() && doc.contains("id") && doc["id"].is_string()) id = doc["id"];
    }
  }
  return Vm(state_, raw, id);
}

Backend::SubscriptionId Backend::on_event(Subscriber subscriber) {
  std::lock_guard lock(shared().sub_mu);
  SubscriptionId id = shared().next_id++;
  shared().subscribers.emplace(id, std::move(subscriber));
  return id;
}

void Backend::unsubscribe(SubscriptionId id) {
  std::lock_guard lock(shared().sub_mu);
  shared().subscribers.erase(id);
}

void Backend::drain_events() {
  shared().drain();
}

Backend::DeliveryHere::DeliveryHere(Backend &backend)
    : state_(backend.state_), outer_(detail::t_delivering_here) {
  detail::t_delivering_here = state_.get();
}

Backend::DeliveryHere::~DeliveryHere() {
  detail::t_delivering_here = outer_;
  if (state_) state_->drain();
}

void Backend::close(uint32_t flags) {
  hal_backend *b = shared().need_open();
  refuse_exclusive("close backend " + shared().plugin->name(), flags, HAL_CLOSE_KEEP_VMS,
                   "HAL_CLOSE_KEEP_VMS", HAL_CLOSE_STOP_VMS, "HAL_CLOSE_STOP_VMS");
  if (int n = shared().live_vms.load(); n > 0) {
    throw Error(HAL_FAILED_PRECONDITION, "close backend " + shared().plugin->name() + ": " +
                                             std::to_string(n) + " VM handle(s) still open");
  }
  ErrorBuffer err;
  hal_status st = HAL_PLUGIN_CALL(*shared().plugin, close, err.get(), b, flags);
  check(st, err, "close backend " + shared().plugin->name());
  shared().backend = nullptr;
  shared().stop_dispatcher();
}

}  // namespace hal
