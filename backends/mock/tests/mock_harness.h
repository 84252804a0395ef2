// mock_harness.h - test helpers: libhal-mock.so loaded through hal::Plugin
// (testing/plugin_under_test.h), backends opened on its raw table with an event log, RAII VM
// handles and small spec builders.
#ifndef HAL_BACKENDS_MOCK_TESTS_MOCK_HARNESS_H
#define HAL_BACKENDS_MOCK_TESTS_MOCK_HARNESS_H

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
#include "testing/event_log.h"
#include "testing/plugin_under_test.h"

namespace hal::mock::test {

using nlohmann::json;

/** The mock plugin, loaded once per process. */
inline const hal::testing::PluginUnderTest &MockPlugin() {
  return hal::testing::plugin_under_test(HAL_MOCK_PLUGIN_PATH);
}

/** The mock's negotiated table. */
inline const hal_backend_table &T() {
  return MockPlugin().table();
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

/** The events a backend delivered; thread-safe. */
using EventLog = hal::testing::EventLog;

/** An open backend with an event log; closed (KEEP_VMS) by the destructor. */
class Backend {
 public:
  explicit Backend(const json &config) {
    hal_error error = Err();
    status = T().open(config.dump().c_str(), &EventLog::callback, &events, 0, &b, &error);
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
