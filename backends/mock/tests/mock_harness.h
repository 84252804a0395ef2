// mock_harness.h - test helpers: load libhal-mock.so with dlopen, negotiate its table, open
// backends with an event recorder, RAII VM handles and small spec builders.
#ifndef HAL_BACKENDS_MOCK_TESTS_MOCK_HARNESS_H
#define HAL_BACKENDS_MOCK_TESTS_MOCK_HARNESS_H

#include <dlfcn.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "hal/hal.h"

namespace hal::mock::test {

using nlohmann::json;

/** The dlopen()ed plugin and its negotiated table (loaded once per process). */
inline const hal_backend_table &T() {
  static const hal_backend_table *table = [] {
    void *dl = dlopen(HAL_MOCK_PLUGIN_PATH, RTLD_NOW | RTLD_LOCAL);
    if (dl == nullptr) throw std::runtime_error(dlerror());
    auto negotiate = reinterpret_cast<hal_negotiate_fn>(dlsym(dl, HAL_PLUGIN_ENTRY_SYMBOL));
    if (negotiate == nullptr) throw std::runtime_error("no hal_plugin_negotiate");
    const hal_backend_table *out = nullptr;
    hal_error error{sizeof(hal_error), 0, {}};
    if (negotiate(HAL_ABI_VERSION, 0, &out, &error) != HAL_OK)
      throw std::runtime_error(error.message);
    return out;
  }();
  return *table;
}

/** A fresh hal_error. */
inline hal_error Err() {
  return hal_error{sizeof(hal_error), 0, {}};
}

/** Takes ownership of a plugin string and frees it with free_string. */
inline std::string Take(char *text) {
  std::string out = text ? text : "";
  T().free_string(text);
  return out;
}

/** One recorded event. */
struct Event {
  hal_event_type type;
  std::string vm;
  hal_vm_state state;
  json detail;
};

/** Records events delivered by the plugin; thread-safe. */
class EventLog {
 public:
  static void Callback(void *self, const hal_event *event) {
    auto *log = static_cast<EventLog *>(self);
    std::lock_guard lock(log->mu_);
    log->events_.push_back({event->type, event->vm_id, event->state,
                            event->detail_json ? json::parse(event->detail_json) : json()});
    log->cv_.notify_all();
  }
  std::vector<Event> All() {
    std::lock_guard lock(mu_);
    return events_;
  }
  /** State-change states of VM `vm`, in order. */
  std::vector<hal_vm_state> States(const std::string &vm) {
    std::vector<hal_vm_state> out;
    for (const auto &e : All())
      if (e.vm == vm && e.type == HAL_EVENT_STATE_CHANGED) out.push_back(e.state);
    return out;
  }
  /** Waits until `pred(events)` holds or `ms` passes. */
  bool WaitFor(const std::function<bool(const std::vector<Event> &)> &pred, int ms = 5000) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::milliseconds(ms), [&] { return pred(events_); });
  }
  void Clear() {
    std::lock_guard lock(mu_);
    events_.clear();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Event> events_;
};

/** An open backend with an event log; closed (KEEP_VMS) by the destructor. */
class Backend {
 public:
  explicit Backend(const json &config) {
    hal_error error = Err();
    status = T().open(config.dump().c_str(), &EventLog::Callback, &events, 0, &b, &error);
    message = error.message;
  }
  ~Backend() { Close(); }
  hal_status Close(uint32_t flags = 0) {
    if (!b) return HAL_OK;
    hal_error error = Err();
    hal_status s = T().close(b, flags, &error);
    if (s == HAL_OK) b = nullptr;
    message = error.message;
    return s;
  }
  hal_backend *b = nullptr;
  hal_status status;
  std::string message;
  EventLog events;
};

/** An owned hal_vm handle. */
class Vm {
 public:
  Vm() = default;
  explicit Vm(hal_vm *vm) : vm_(vm) {}
  Vm(Vm &&other) noexcept : vm_(other.vm_) { other.vm_ = nullptr; }
  Vm &operator=(Vm &&other) noexcept {
    std::swap(vm_, other.vm_);
    return *this;
  }
  ~Vm() { T().vm_release(vm_); }
  hal_vm *get() const { return vm_; }
  hal_vm **out() { return &vm_; }
  hal_vm_state State() const {
    hal_vm_state s = HAL_VM_STATE_UNKNOWN;
    hal_error error = Err();
    EXPECT_EQ(T().vm_get_state(vm_, 0, &s, &error), HAL_OK) << error.message;
    return s;
  }
  json Info() const {
    char *out = nullptr;
    hal_error error = Err();
    EXPECT_EQ(T().vm_get_info(vm_, 0, &out, &error), HAL_OK) << error.message;
    return json::parse(Take(out));
  }
  json Progress() const {
    char *out = nullptr;
    hal_error error = Err();
    EXPECT_EQ(T().migration_get_progress(vm_, 0, &out, &error), HAL_OK) << error.message;
    return json::parse(Take(out));
  }

 private:
  hal_vm *vm_ = nullptr;
};

/** A minimal valid spec named `name`, merged with `extra`. */
inline json Spec(const std::string &name, const json &extra = json::object()) {
  json spec = {{"apiVersion", "hal.dev/v1"},
               {"name", name},
               {"cpu", {{"vcpus", 2}}},
               {"memory", {{"size", "256Mi"}}}};
  spec.merge_patch(extra);
  return spec;
}

/** Result of a call: status and message. */
struct Result {
  hal_status status;
  std::string message;
};

/** vm_create, returning the status (and the handle in `vm`). */
inline Result Create(hal_backend *b, const json &spec, Vm &vm, uint32_t flags = 0) {
  hal_error error = Err();
  Vm fresh;
  hal_status s = T().vm_create(b, spec.dump().c_str(), flags, fresh.out(), &error);
  vm = std::move(fresh);
  return {s, error.message};
}

/** Calls a `hal_status f(hal_vm*, uint32_t, hal_error*)` entry. */
inline Result Call(hal_status (*fn)(hal_vm *, uint32_t, hal_error *), const Vm &vm,
                   uint32_t flags = 0) {
  hal_error error = Err();
  hal_status s = fn(vm.get(), flags, &error);
  return {s, error.message};
}

/** Counts gtest iterations (--gtest_repeat), so each one gets fresh in-memory stores. */
struct IterationCounter : ::testing::EmptyTestEventListener {
  static inline int iteration = 0;
  void OnTestIterationStart(const ::testing::UnitTest &, int i) override { iteration = i; }
};
inline const bool kIterationCounter = [] {
  ::testing::UnitTest::GetInstance()->listeners().Append(new IterationCounter);
  return true;
}();

/** A unique instance name for this test and iteration (so in-memory stores do not collide). */
inline std::string Instance(const std::string &suffix = "") {
  (void)kIterationCounter;  // odr-use: an unused inline variable might never be initialised
  const auto *info = ::testing::UnitTest::GetInstance()->current_test_info();
  return std::string(info->test_suite_name()) + "." + info->name() + "#" +
         std::to_string(IterationCounter::iteration) + suffix;
}

/** Sleeps `ms` milliseconds. */
inline void Sleep(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

}  // namespace hal::mock::test

#endif  // HAL_BACKENDS_MOCK_TESTS_MOCK_HARNESS_H
