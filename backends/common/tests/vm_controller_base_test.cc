// vm_controller_base_test.cc - the shared part of a per-VM controller: its id, spec and state
// dir, STATE_CHANGED events (none once detached), NOT_FOUND once deleted, and the
// FAILED_PRECONDITION message of an operation asked in the wrong state.
#include "backends/common/vm_controller_base.h"

#include <gtest/gtest.h>

#include <vector>

#include "backends/common/state_dir.h"

namespace hal::backend_common {
namespace {
using hal::plugin::Failure;

// The events a sink delivered: type, VM, state, detail.
struct Seen {
  hal_event_type type;
  std::string vm;
  hal_vm_state state;
  std::string detail;
};

void record(void *user_data, const hal_event *event) {
  static_cast<std::vector<Seen> *>(user_data)->push_back(
      {event->type, event->vm_id, event->state, event->detail_json ? event->detail_json : ""});
}

struct Settings {
  std::filesystem::path state_root;
  hal::plugin::EventSink events;
};

struct Dir : StateDir {
  Dir(const std::filesystem::path &root, const std::string &name)
      : StateDir(root / name, {"hv.pid", "hv.log"}) {}
};

// A controller with nothing of its own: its tests drive the protected part directly.
class Controller : public VmControllerBase<Settings, Dir> {
 public:
  using VmControllerBase::VmControllerBase;
  void set(hal_vm_state state, const std::string &reason) {
    std::lock_guard<std::mutex> lock(mutex_);
    set_state_locked(state, reason);
  }
  void emit(hal_event_type type, const nlohmann::json &detail) {
    std::lock_guard<std::mutex> lock(mutex_);
    emit_locked(type, detail);
  }
  void refuse(std::string_view op, std::string_view more = {}) {
    std::lock_guard<std::mutex> lock(mutex_);
    refuse_locked(op, more);
  }
  void mark(bool detached, bool deleted) {
    std::lock_guard<std::mutex> lock(mutex_);
    detached_ = detached;
    deleted_ = deleted;
  }
};

VmSpec spec_named(const std::string &name) {
  VmSpec spec;
  spec.name = name;
  return spec;
}

class VmControllerBaseTest : public ::testing::Test {
 protected:
  std::vector<Seen> seen_;
  std::shared_ptr<Settings> settings_ =
      std::make_shared<Settings>(Settings{"/run/hv", hal::plugin::EventSink(&record, &seen_)});
  Controller vm_{settings_, spec_named("vm1")};
};

TEST_F(VmControllerBaseTest, IdSpecAndStateDir) {
  EXPECT_EQ(vm_.id(), "vm1");
  EXPECT_EQ(vm_.spec().name, "vm1");
  EXPECT_EQ(vm_.dir().dir(), "/run/hv/vm1");
  EXPECT_EQ(vm_.state(), HAL_VM_STATE_STOPPED);
  EXPECT_FALSE(vm_.deleted());
}

TEST_F(VmControllerBaseTest, AStateChangeEmitsItsReasonOnce) {
  vm_.set(HAL_VM_STATE_RUNNING, "started");
  vm_.set(HAL_VM_STATE_RUNNING, "again");  // no change, no event
  vm_.set(HAL_VM_STATE_PAUSED, "");
  vm_.emit(HAL_EVENT_GUEST_REBOOTED, nullptr);
  ASSERT_EQ(seen_.size(), 3u);
  EXPECT_EQ(seen_[0].type, HAL_EVENT_STATE_CHANGED);
  EXPECT_EQ(seen_[0].vm, "vm1");
  EXPECT_EQ(seen_[0].state, HAL_VM_STATE_RUNNING);
  EXPECT_EQ(seen_[0].detail, R"({"reason":"started"})");
  EXPECT_EQ(seen_[1].state, HAL_VM_STATE_PAUSED);
  EXPECT_EQ(seen_[1].detail, "{}");
  EXPECT_EQ(seen_[2].type, HAL_EVENT_GUEST_REBOOTED);
  EXPECT_EQ(seen_[2].state, HAL_VM_STATE_PAUSED);
  EXPECT_EQ(seen_[2].detail, "");  // no detail: NULL
  EXPECT_EQ(vm_.state(), HAL_VM_STATE_PAUSED);
}

TEST_F(VmControllerBaseTest, NoEventOnceDetached) {
  vm_.mark(true, false);
  vm_.set(HAL_VM_STATE_RUNNING, "started");
  EXPECT_TRUE(seen_.empty());
  EXPECT_EQ(vm_.state(), HAL_VM_STATE_RUNNING);
}

TEST_F(VmControllerBaseTest, ADeletedVmIsNotFound) {
  vm_.mark(true, true);
  EXPECT_TRUE(vm_.deleted());
  try {
    vm_.state();
    FAIL() << "expected NOT_FOUND";
  } catch (const Failure &failure) {
    EXPECT_EQ(failure.status, HAL_NOT_FOUND);
    EXPECT_STREQ(failure.what(), "VM 'vm1' was deleted");
  }
}

TEST_F(VmControllerBaseTest, RefusalNamesTheOperationTheVmAndItsState) {
  vm_.set(HAL_VM_STATE_RUNNING, "started");
  try {
    vm_.refuse("vm_delete", "; stop it first");
    FAIL() << "expected FAILED_PRECONDITION";
  } catch (const Failure &failure) {
    EXPECT_EQ(failure.status, HAL_FAILED_PRECONDITION);
    EXPECT_STREQ(failure.what(), "vm_delete: VM 'vm1' is Running; stop it first");
  }
  try {
    vm_.refuse("vm_start");
    FAIL() << "expected FAILED_PRECONDITION";
  } catch (const Failure &failure) {
    EXPECT_STREQ(failure.what(), "vm_start: VM 'vm1' is Running");
  }
}

}  // namespace
}  // namespace hal::backend_common
