// backend_test.cc - the C++ host API over the good test plugin: lifecycle, spec validation
// before the plugin, HAL_UNSUPPORTED for NULL entries, and event dispatch (subscribers may call
// back into the backend: the plugin fires events while holding its own lock), and delivery on
// the caller's thread (Backend::DeliveryHere) keeping events in order and one at a time.
#include "core/plugin/backend.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace {

using ::testing::HasSubstr;

nlohmann::json spec(const std::string &name) {
  return {{"apiVersion", "hal.dev/v1"},
          {"name", name},
          {"cpu", {{"vcpus", 2}}},
          {"memory", {{"size", "128Mi"}}}};
}

class PluginBackend : public ::testing::Test {
 protected:
  std::shared_ptr<hal::Plugin> plugin_ = hal::Plugin::load(HAL_TEST_PLUGIN_GOOD);
};

TEST_F(PluginBackend, LifecycleThroughCppApi) {
  auto backend = hal::Backend::open(plugin_, {{"anything", 1}});
  EXPECT_TRUE(backend.capabilities().contains("operations"));
  EXPECT_EQ(backend.host_info()["cpus"], 1);
  auto vm = backend.create(spec("demo"));
  EXPECT_EQ(vm.id(), "demo");
  EXPECT_EQ(vm.state(), HAL_VM_STATE_STOPPED);
  vm.start();
  EXPECT_EQ(vm.state(), HAL_VM_STATE_RUNNING);
  vm.pause();
  vm.snapshot({{"destination", "/tmp/snap"}});
  vm.resume();
  EXPECT_EQ(vm.info()["state"], "Running");
  EXPECT_EQ(backend.list()["vms"][0]["id"], "demo");
  {
    auto again = backend.lookup("demo");
    EXPECT_EQ(again.state(), HAL_VM_STATE_RUNNING);
  }
  try {
    vm.delete_vm();
    FAIL();
  } catch (const hal::Error &e) {
    EXPECT_EQ(e.status(), HAL_FAILED_PRECONDITION);
    EXPECT_STREQ(e.what(), "vm_delete demo: still running: stop it first");
  }
  vm.force_stop();
  vm.delete_vm();
  try {
    backend.lookup("demo");
    FAIL();
  } catch (const hal::Error &e) {
    EXPECT_EQ(e.status(), HAL_NOT_FOUND);
  }
}

TEST_F(PluginBackend, UnknownFlagsAreThePluginsJob) {
  auto backend = hal::Backend::open(plugin_);
  auto vm = backend.create(spec("flags"));
  try {
    vm.start(1u << 31);
    FAIL();
  } catch (const hal::Error &e) {
    EXPECT_EQ(e.status(), HAL_INVALID_ARGUMENT);
  }
  EXPECT_FALSE(backend.create(spec("dry"), HAL_CREATE_VALIDATE_ONLY));
}

// The test plugin would accept both pairs (validate-only, then a real close); the core refuses
// them itself, and the backend stays open.
TEST_F(PluginBackend, ExclusiveFlagPairsNeverReachThePlugin) {
  auto backend = hal::Backend::open(plugin_);
  try {
    backend.create(spec("both"), HAL_CREATE_VALIDATE_ONLY | HAL_CREATE_START);
    FAIL() << "vm_create(VALIDATE_ONLY | START) was accepted";
  } catch (const hal::Error &e) {
    EXPECT_EQ(e.status(), HAL_INVALID_ARGUMENT);
    EXPECT_THAT(e.what(), HasSubstr("HAL_CREATE_VALIDATE_ONLY and HAL_CREATE_START"));
  }
  try {
    backend.close(HAL_CLOSE_KEEP_VMS | HAL_CLOSE_STOP_VMS);
    FAIL() << "close(KEEP_VMS | STOP_VMS) was accepted";
  } catch (const hal::Error &e) {
    EXPECT_EQ(e.status(), HAL_INVALID_ARGUMENT);
    EXPECT_THAT(e.what(), HasSubstr("HAL_CLOSE_KEEP_VMS and HAL_CLOSE_STOP_VMS"));
  }
  auto vm = backend.create(spec("after"));  // still open
  EXPECT_EQ(vm.state(), HAL_VM_STATE_STOPPED);
}

TEST_F(PluginBackend, InvalidSpecNeverReachesPlugin) {
  auto backend = hal::Backend::open(plugin_);
  auto bad = spec("bad");
  bad["cpu"]["vcpus"] = 0;
  bad["bogus"] = true;
  try {
    backend.create(bad);
    FAIL();
  } catch (const hal::Error &e) {
    EXPECT_EQ(e.status(), HAL_INVALID_ARGUMENT);
    EXPECT_THAT(e.what(), HasSubstr("invalid VM spec: "));
    EXPECT_THAT(e.what(), HasSubstr("spec."));
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
  }
  EXPECT_TRUE(backend.list()["vms"].empty());
  try {
    backend.migration_prepare_incoming(bad);
    FAIL();
  } catch (const hal::Error &e) {
    EXPECT_EQ(e.status(), HAL_INVALID_ARGUMENT);
  }
}

TEST_F(PluginBackend, NullEntriesAnswerUnsupportedWithoutCallingPlugin) {
  auto backend = hal::Backend::open(plugin_);
  auto vm = backend.create(spec("unsup"), HAL_CREATE_START);
  try {
    vm.shutdown(std::chrono::seconds(1));
    FAIL();
  } catch (const hal::Error &e) {
    EXPECT_EQ(e.status(), HAL_UNSUPPORTED);
    EXPECT_STREQ(e.what(),
                 "vm_shutdown unsup: operation 'vm_shutdown' is not supported by backend testplug");
  }
  EXPECT_THROW(vm.reboot(), hal::Error);
  EXPECT_THROW(vm.console(), hal::Error);
  EXPECT_THROW(vm.migration_send({{"uri", "tcp:127.0.0.1:1"}}), hal::Error);
  EXPECT_THROW(vm.migration_progress(), hal::Error);
  EXPECT_THROW(backend.migration_prepare_incoming(spec("in")), hal::Error);
  vm.force_stop();
}

TEST_F(PluginBackend, CloseRefusedWhileVmHandlesLive) {
  auto backend = hal::Backend::open(plugin_);
  auto vm = backend.create(spec("held"));
  try {
    backend.close();
    FAIL();
  } catch (const hal::Error &e) {
    EXPECT_EQ(e.status(), HAL_FAILED_PRECONDITION);
  }
  vm.release();
  backend.close();
  EXPECT_THROW(backend.list(), hal::Error);
}

TEST_F(PluginBackend, MovedFromBackendThrows) {
  auto backend = hal::Backend::open(plugin_);
  auto other = std::move(backend);
  EXPECT_THROW(backend.list(), hal::Error);  // NOLINT(bugprone-use-after-move): on purpose
  EXPECT_TRUE(other.list()["vms"].empty());
}

TEST_F(PluginBackend, VmOutlivingBackendKeepsPluginOpen) {
  hal::Vm vm;
  {
    auto backend = hal::Backend::open(plugin_);
    vm = backend.create(spec("survivor"));
  }
  vm.start();
  EXPECT_EQ(vm.state(), HAL_VM_STATE_RUNNING);
}

TEST_F(PluginBackend, EventsDispatchedAndSubscriberMayCallBack) {
  auto backend = hal::Backend::open(plugin_);
  std::mutex mu;
  std::condition_variable cv;
  std::vector<hal::Event> seen;
  std::vector<hal_vm_state> looked_up;
  backend.on_event([&](const hal::Event &ev) {
    // Calling back into the backend from a subscriber: the plugin fired this event while
    // holding its lock, so a synchronous delivery would deadlock here.
    auto vm = backend.lookup(ev.vm_id);
    auto st = vm.state();
    std::lock_guard lock(mu);
    seen.push_back(ev);
    looked_up.push_back(st);
    cv.notify_all();
  });
  auto vm = backend.create(spec("evt"));
  vm.start();
  vm.pause();
  backend.drain_events();
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return seen.size() >= 3; }));
  EXPECT_EQ(seen[0].type, static_cast<hal_event_type>(HAL_EVENT_STATE_CHANGED));
  EXPECT_EQ(seen[0].vm_id, "evt");
  EXPECT_EQ(seen[0].state, HAL_VM_STATE_STOPPED);
  EXPECT_EQ(seen[1].state, HAL_VM_STATE_RUNNING);
  EXPECT_EQ(seen[2].state, HAL_VM_STATE_PAUSED);
  EXPECT_EQ(seen[2].detail["reason"], "test");
  EXPECT_GT(seen[2].timestamp_ns, 0u);
  EXPECT_EQ(looked_up.size(), 3u);
}

TEST_F(PluginBackend, UnsubscribeAndThrowingSubscriber) {
  auto backend = hal::Backend::open(plugin_);
  std::atomic<int> count{0};
  backend.on_event([](const hal::Event &) { throw std::runtime_error("subscriber bug"); });
  auto id = backend.on_event([&](const hal::Event &) { ++count; });
  auto vm = backend.create(spec("subs"));
  backend.drain_events();
  EXPECT_EQ(count.load(), 1);
  backend.unsubscribe(id);
  vm.start();
  backend.drain_events();
  EXPECT_EQ(count.load(), 1);
}

TEST_F(PluginBackend, ConcurrentCallsOnManyVms) {
  auto backend = hal::Backend::open(plugin_);
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auto vm = backend.create(spec("c" + std::to_string(t)));
      for (int i = 0; i < 50; ++i) {
        vm.start();
        vm.pause();
        vm.resume();
        vm.force_stop();
      }
      ++ok;
    });
  }
  for (auto &th : threads) th.join();
  EXPECT_EQ(ok.load(), 4);
}

TEST_F(PluginBackend, DeliveryHereDeliversTheCallersEventsOnItsOwnThreadInOrder) {
  auto backend = hal::Backend::open(plugin_);
  std::mutex mu;
  std::vector<hal_vm_state> seen;
  std::vector<std::thread::id> threads;
  std::vector<hal_vm_state> looked_up;
  backend.on_event([&](const hal::Event &ev) {
    auto state = backend.lookup(ev.vm_id).state();  // calling back is fine on this thread too
    std::lock_guard lock(mu);
    seen.push_back(ev.state);
    threads.push_back(std::this_thread::get_id());
    looked_up.push_back(state);
  });
  {
    hal::Backend::DeliveryHere here(backend);
    auto vm = backend.create(spec("here"));
    vm.start();
    vm.pause();
    std::lock_guard lock(mu);
    EXPECT_TRUE(seen.empty()) << "delivered before the scope ended";
  }
  std::lock_guard lock(mu);
  ASSERT_EQ(seen, (std::vector<hal_vm_state>{HAL_VM_STATE_STOPPED, HAL_VM_STATE_RUNNING,
                                             HAL_VM_STATE_PAUSED}));
  for (std::thread::id id : threads) EXPECT_EQ(id, std::this_thread::get_id());
  EXPECT_EQ(looked_up.size(), 3u);
}

TEST_F(PluginBackend, EventsOutsideADeliveryHereStillReachTheDispatcher) {
  auto backend = hal::Backend::open(plugin_);
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::thread::id> threads;
  backend.on_event([&](const hal::Event &) {
    std::lock_guard lock(mu);
    threads.push_back(std::this_thread::get_id());
    cv.notify_all();
  });
  { hal::Backend::DeliveryHere here(backend); }  // an empty scope leaves nothing behind
  auto vm = backend.create(spec("there"));       // no scope and no drain: the dispatcher's
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return threads.size() == 1; }));
  EXPECT_NE(threads[0], std::this_thread::get_id());
}

// Threads delivering their own events and the dispatcher delivering everybody else's never run
// subscribers at the same time, and each VM's events arrive in the order they happened.
TEST_F(PluginBackend, CallerAndDispatcherDeliveriesNeverOverlapAndKeepOrder) {
  auto backend = hal::Backend::open(plugin_);
  std::atomic<int> inside{0};
  std::atomic<bool> overlapped{false};
  std::mutex mu;
  std::map<std::string, std::vector<hal_vm_state>> per_vm;
  backend.on_event([&](const hal::Event &ev) {
    if (inside.fetch_add(1) != 0) overlapped = true;
    std::this_thread::yield();
    {
      std::lock_guard lock(mu);
      per_vm[ev.vm_id].push_back(ev.state);
    }
    inside.fetch_sub(1);
  });
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&, t] {
      auto vm = backend.create(spec("o" + std::to_string(t)));
      for (int i = 0; i < 50; ++i) {
        if (t % 2 == 0) {  // half deliver their own events, half leave them to the dispatcher
          hal::Backend::DeliveryHere here(backend);
          vm.start();
          vm.force_stop();
        } else {
          vm.start();
          vm.force_stop();
        }
      }
    });
  }
  for (auto &worker : workers) worker.join();
  backend.drain_events();
  EXPECT_FALSE(overlapped.load());
  std::lock_guard lock(mu);
  ASSERT_EQ(per_vm.size(), 4u);
  for (const auto &[id, states] : per_vm) {
    ASSERT_EQ(states.size(), 101u) << id;  // created (stopped), then 50 x (running, stopped)
    for (size_t i = 1; i < states.size(); ++i)
      EXPECT_EQ(states[i], i % 2 == 1 ? HAL_VM_STATE_RUNNING : HAL_VM_STATE_STOPPED) << id << i;
  }
}

}  // namespace
