// image_catalog_test.cc - image catalogue resolution and Event aggregation.
#include "controller/server/image_catalog.h"

#include <gtest/gtest.h>

#include "controller/server/events.h"
#include "controller/server/object_util.h"
#include "controller/store/memory_store.h"

namespace hal::controller {
namespace {

TEST(ImageCatalog, ResolvesEntriesAndTheTestGuest) {
  ImageCatalog catalog({"quay.io/containerdisks/fedora=/images/fedora", "cirros=/images/cirros"},
                       "/guest");
  EXPECT_EQ(catalog.resolve("cirros"), "/images/cirros");
  EXPECT_EQ(catalog.resolve("quay.io/containerdisks/fedora:39"), "/images/fedora");
  EXPECT_EQ(catalog.resolve("hal/test-guest"), "/guest");
  EXPECT_FALSE(catalog.resolve("unknown").has_value());
  EXPECT_EQ(catalog.resolver()("cirros"), "/images/cirros");
}

TEST(ImageCatalog, ExplicitEntryWinsOverEnvironmentAndBadEntryIsRefused) {
  ImageCatalog catalog({"hal/test-guest=/mine"}, "/env");
  EXPECT_EQ(catalog.resolve("hal/test-guest"), "/mine");
  ImageCatalog none({}, "");
  EXPECT_FALSE(none.resolve("hal/test-guest").has_value());
  EXPECT_THROW(ImageCatalog({"no-equals"}, ""), std::invalid_argument);
}

TEST(Events, AggregateByReasonAndDeleteWithTheObject) {
  MemoryStore store;
  StoreKey vm{kVmKind, "default", "a"};
  store.commit({record_event(store, vm, EventType::kWarning, "FailedScheduling", "first")});
  store.commit({record_event(store, vm, EventType::kWarning, "FailedScheduling", "second")});
  store.commit({record_event(store, vm, EventType::kNormal, "Started", "ok")});
  store.commit(
      {record_event(store, StoreKey{kVmKind, "default", "b"}, EventType::kNormal, "Started", "x")});
  auto events = events_for(store, vm);
  ASSERT_EQ(events.size(), 2u);
  const auto &scheduling = events[0].object["reason"] == "FailedScheduling" ? events[0] : events[1];
  EXPECT_EQ(scheduling.object["count"], 2);
  EXPECT_EQ(scheduling.object["message"], "second");
  EXPECT_EQ(scheduling.object["type"], "Warning");
  EXPECT_EQ(scheduling.object["involvedObject"]["name"], "a");
  store.commit(delete_events(store, vm));
  EXPECT_TRUE(events_for(store, vm).empty());
  EXPECT_EQ(events_for(store, StoreKey{kVmKind, "default", "b"}).size(), 1u);
}

TEST(Conditions, TransitionTimeChangesOnlyWithStatus) {
  nlohmann::json conditions;
  EXPECT_TRUE(set_condition(conditions, "Ready", true, "R", "m"));
  EXPECT_FALSE(set_condition(conditions, "Ready", true, "R", "m"));
  EXPECT_TRUE(set_condition(conditions, "Ready", false, "R", "m"));
  ASSERT_NE(find_condition(conditions, "Ready"), nullptr);
  EXPECT_EQ((*find_condition(conditions, "Ready"))["status"], "False");
  EXPECT_TRUE(remove_condition(conditions, "Ready"));
  EXPECT_EQ(find_condition(conditions, "Ready"), nullptr);
}

}  // namespace
}  // namespace hal::controller
