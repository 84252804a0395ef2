// node_call_slots_test.cc - per-node call slots: the limit, the waiting list (each key once,
// oldest first, queued again when a slot frees), independence of nodes, moved slots, a key
// sharing the slot it holds, and the bounded wait of callers that are not workers.
#include "controller/server/node_call_slots.h"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace hal::controller {
namespace {

class NodeCallSlotsTest : public ::testing::Test {
 protected:
  std::vector<std::string> requeued_;
  NodeCallSlots slots_{2, [this](const std::string &key) { requeued_.push_back(key); }};
};

TEST_F(NodeCallSlotsTest, AFullNodeMakesKeysWaitAndAFreedSlotRequeuesTheOldest) {
  auto first = slots_.try_claim("hung", "vmi/a");
  auto second = slots_.try_claim("hung", "vmi/b");
  ASSERT_TRUE(first && second);
  EXPECT_EQ(slots_.in_flight("hung"), 2u);
  EXPECT_FALSE(slots_.try_claim("hung", "vmi/c"));
  EXPECT_FALSE(slots_.try_claim("hung", "vmi/d"));
  EXPECT_FALSE(slots_.try_claim("hung", "vmi/c"));  // asking again does not queue it twice
  EXPECT_EQ(slots_.waiting("hung"), 2u);
  // Another node is not affected.
  EXPECT_TRUE(slots_.try_claim("healthy", "vmi/e"));
  EXPECT_TRUE(requeued_.empty());

  first.reset();
  EXPECT_EQ(requeued_, std::vector<std::string>{"vmi/c"});
  EXPECT_EQ(slots_.in_flight("hung"), 1u);
  EXPECT_EQ(slots_.waiting("hung"), 1u);
  second.reset();
  EXPECT_EQ(requeued_, (std::vector<std::string>{"vmi/c", "vmi/d"}));
  EXPECT_EQ(slots_.in_flight("hung"), 0u);
  EXPECT_EQ(slots_.waiting("hung"), 0u);
  // Free again: claims succeed and a release with nobody waiting requeues nothing.
  {
    auto again = slots_.try_claim("hung", "vmi/c");
    EXPECT_TRUE(again);
  }
  EXPECT_EQ(requeued_.size(), 2u);
}

TEST_F(NodeCallSlotsTest, AMovedSlotIsReleasedOnce) {
  std::optional<NodeCallSlots::Slot> moved;
  {
    auto slot = slots_.try_claim("n", "k");
    ASSERT_TRUE(slot);
    moved.emplace(std::move(*slot));
  }
  EXPECT_EQ(slots_.in_flight("n"), 1u);
  moved.reset();
  EXPECT_EQ(slots_.in_flight("n"), 0u);
}

TEST_F(NodeCallSlotsTest, AKeyHoldingASlotSharesItAndReleasesItWithItsLastClaim) {
  auto outer = slots_.try_claim("n", "vmim/a");
  auto inner = slots_.try_claim("n", "vmim/a");  // the same worker, a nested call
  ASSERT_TRUE(outer && inner);
  EXPECT_EQ(slots_.in_flight("n"), 1u);
  auto other = slots_.try_claim("n", "vmi/b");
  ASSERT_TRUE(other);
  EXPECT_FALSE(slots_.try_claim("n", "vmi/c"));
  inner.reset();
  EXPECT_TRUE(requeued_.empty());  // still held by the outer claim
  EXPECT_EQ(slots_.in_flight("n"), 2u);
  outer.reset();
  EXPECT_EQ(requeued_, std::vector<std::string>{"vmi/c"});
  EXPECT_EQ(slots_.in_flight("n"), 1u);
}

TEST_F(NodeCallSlotsTest, AWaitingCallerGetsAReleasedSlotOrGivesUpAtItsDeadline) {
  auto first = slots_.try_claim("n", "vmi/a");
  auto second = slots_.try_claim("n", "vmi/b");
  ASSERT_TRUE(first && second);
  const auto started = std::chrono::steady_clock::now();
  EXPECT_FALSE(slots_.claim_within("n", "action/x", std::chrono::milliseconds(50)));
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(50));
  EXPECT_EQ(slots_.waiting("n"), 0u);  // a waiting caller is not a queued key

  std::thread release([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    first.reset();
  });
  auto granted = slots_.claim_within("n", "action/x", std::chrono::seconds(10));
  release.join();
  ASSERT_TRUE(granted);
  EXPECT_EQ(slots_.in_flight("n"), 2u);
}

TEST(NodeCallSlots, AtLeastOneSlotPerNode) {
  NodeCallSlots slots(0, [](const std::string &) {});
  EXPECT_EQ(slots.per_node(), 1u);
  auto only = slots.try_claim("n", "k");
  EXPECT_TRUE(only);
  EXPECT_FALSE(slots.try_claim("n", "k2"));
}

}  // namespace
}  // namespace hal::controller
