// event_hub_test.cc - EventHub: sequencing, replay since a sequence, replay-buffer overflow,
// dropping a reader that does not keep up without blocking the publisher, close.
#include "controller/node/event_hub.h"

#include <gtest/gtest.h>

#include <thread>

#include "hal/host.hpp"

namespace hal::node {
namespace {

using namespace std::chrono_literals;

v1::NodeEvent event(const std::string &vm) {
  v1::NodeEvent out;
  out.set_vm_id(vm);
  out.set_type("state-changed");
  return out;
}

TEST(EventHubTest, AssignsIncreasingSequencesAndDeliversInOrder) {
  EventHub hub(16, 16);
  auto reader = hub.subscribe(0);
  EXPECT_EQ(hub.publish(event("a")), 1u);
  EXPECT_EQ(hub.publish(event("b")), 2u);
  EXPECT_EQ(hub.publish(event("c")), 3u);
  EXPECT_EQ(hub.last_sequence(), 3u);
  for (uint64_t seq = 1; seq <= 3; ++seq) {
    auto got = reader->next(1s);
    ASSERT_TRUE(got);
    EXPECT_EQ(got->sequence(), seq);
    EXPECT_EQ(got->vm_id(), std::string(1, static_cast<char>('a' + seq - 1)));
  }
  EXPECT_FALSE(reader->next(10ms));
}

TEST(EventHubTest, ReplaysBufferedEventsAfterSince) {
  EventHub hub(16, 16);
  for (int i = 0; i < 5; ++i) hub.publish(event("vm" + std::to_string(i)));
  auto reader = hub.subscribe(2);
  hub.publish(event("live"));
  std::vector<uint64_t> seen;
  while (auto got = reader->next(20ms)) seen.push_back(got->sequence());
  EXPECT_EQ(seen, (std::vector<uint64_t>{3, 4, 5, 6}));
  // since == 0 means from now; since beyond the last (an earlier boot) replays nothing.
  EXPECT_FALSE(hub.subscribe(0)->next(10ms));
  EXPECT_FALSE(hub.subscribe(1000)->next(10ms));
}

TEST(EventHubTest, SinceOlderThanTheReplayBufferIsOutOfRange) {
  EventHub hub(4, 16);
  for (int i = 0; i < 10; ++i) hub.publish(event("vm"));
  // Kept: 7..10. Since 6 is still complete; since 5 misses event 6.
  EXPECT_NO_THROW(hub.subscribe(6));
  try {
    hub.subscribe(5);
    FAIL() << "expected OUT_OF_RANGE";
  } catch (const Error &e) {
    EXPECT_EQ(e.status(), HAL_OUT_OF_RANGE);
    EXPECT_NE(std::string(e.what()).find("since_sequence"), std::string::npos) << e.what();
  }
}

TEST(EventHubTest, ReaderThatFallsBehindIsDroppedWithoutBlockingPublish) {
  EventHub hub(8, 4);
  auto slow = hub.subscribe(0);
  auto fast = hub.subscribe(0);
  std::vector<uint64_t> fast_seen;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 100; ++i) {
    hub.publish(event("vm"));
    while (auto got = fast->next(0ms)) fast_seen.push_back(got->sequence());
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  EXPECT_TRUE(slow->dropped());
  EXPECT_FALSE(slow->next(10ms));
  EXPECT_FALSE(fast->dropped());
  EXPECT_EQ(fast_seen.size(), 100u);
  EXPECT_EQ(hub.dropped_count(), 1u);
  EXPECT_EQ(hub.reader_count(), 1u);
}

TEST(EventHubTest, CloseWakesReadersAndRefusesNewOnes) {
  EventHub hub(8, 8);
  auto reader = hub.subscribe(0);
  std::thread closer([&] {
    std::this_thread::sleep_for(50ms);
    hub.close();
  });
  auto begin = std::chrono::steady_clock::now();
  EXPECT_FALSE(reader->next(5s));
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 2s);
  closer.join();
  EXPECT_TRUE(reader->closed());
  EXPECT_THROW(hub.subscribe(0), Error);
}

}  // namespace
}  // namespace hal::node
