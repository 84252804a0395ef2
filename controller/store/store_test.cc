// store_test.cc - Store semantics on the in-memory implementation (the SQLite store shares
// them): CAS conflicts, transactions, list filters, watch ordering and history.
#include <gtest/gtest.h>

#include <thread>

#include "controller/store/memory_store.h"

namespace hal::controller {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

StoreKey vm(const std::string &name, const std::string &ns = "default") {
  return StoreKey{"VirtualMachine", ns, name};
}

TEST(MemoryStore, CreateGetAndResourceVersion) {
  MemoryStore store;
  EXPECT_EQ(store.revision(), 0);
  auto created = store.create(vm("a"), json{{"spec", {{"x", 1}}}});
  EXPECT_EQ(created.version, 1);
  EXPECT_EQ(created.object["metadata"]["resourceVersion"], "1");
  auto got = store.get(vm("a"));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->object["spec"]["x"], 1);
  EXPECT_FALSE(store.get(vm("b")).has_value());
  EXPECT_EQ(store.revision(), 1);
}

TEST(MemoryStore, CreateTwiceIsAlreadyExists) {
  MemoryStore store;
  store.create(vm("a"), json::object());
  try {
    store.create(vm("a"), json::object());
    FAIL() << "second create succeeded";
  } catch (const StoreError &e) {
    EXPECT_EQ(e.code(), StoreErrorCode::kAlreadyExists);
  }
}

TEST(MemoryStore, UpdateWithStaleVersionConflicts) {
  MemoryStore store;
  auto first = store.create(vm("a"), json{{"n", 1}});
  auto second = store.update(vm("a"), json{{"n", 2}}, first.version);
  EXPECT_GT(second.version, first.version);
  try {
    store.update(vm("a"), json{{"n", 3}}, first.version);
    FAIL() << "stale update succeeded";
  } catch (const StoreError &e) {
    EXPECT_EQ(e.code(), StoreErrorCode::kConflict);
    EXPECT_NE(std::string(e.what()).find("VirtualMachine/default/a"), std::string::npos);
  }
  EXPECT_EQ(store.get(vm("a"))->object["n"], 2);
  // Unconditional update still works.
  store.update(vm("a"), json{{"n", 4}}, 0);
  EXPECT_EQ(store.get(vm("a"))->object["n"], 4);
}

TEST(MemoryStore, UpdateMissingIsNotFound) {
  MemoryStore store;
  EXPECT_THROW(store.update(vm("nope"), json::object(), 0), StoreError);
}

TEST(MemoryStore, DeleteWithVersionCheck) {
  MemoryStore store;
  auto a = store.create(vm("a"), json::object());
  store.update(vm("a"), json{{"n", 1}}, 0);
  EXPECT_THROW(store.remove(vm("a"), a.version), StoreError);
  auto removed = store.remove(vm("a"));
  ASSERT_TRUE(removed.has_value());
  EXPECT_EQ(removed->object["n"], 1);
  EXPECT_FALSE(store.get(vm("a")).has_value());
  EXPECT_FALSE(store.remove(vm("a")).has_value());
}

TEST(MemoryStore, TransactionIsAllOrNothing) {
  MemoryStore store;
  store.create(vm("exists"), json::object());
  const int64_t before = store.revision();
  const uint64_t transactions = store.write_transactions();
  std::vector<StoreWrite> writes = {
      {StoreWrite::Op::kCreate, vm("new"), json::object(), 0, false},
      {StoreWrite::Op::kCreate, vm("exists"), json::object(), 0, false},
  };
  EXPECT_THROW(store.commit(writes), StoreError);
  EXPECT_FALSE(store.get(vm("new")).has_value());
  EXPECT_EQ(store.revision(), before);
  EXPECT_EQ(store.write_transactions(), transactions);

  writes[1] = {StoreWrite::Op::kPut, vm("exists"), json{{"v", 2}}, 0, false};
  auto written = store.commit(writes);
  ASSERT_EQ(written.size(), 2u);
  EXPECT_EQ(written[0]->version, written[1]->version);  // One revision per transaction.
  EXPECT_EQ(store.write_transactions(), transactions + 1);
  EXPECT_EQ(store.object_writes(), 3u);
}

TEST(MemoryStore, ListFiltersByKindAndNamespace) {
  MemoryStore store;
  store.create(vm("a", "ns1"), json::object());
  store.create(vm("b", "ns2"), json::object());
  store.create(StoreKey{"Node", "", "n1"}, json::object());
  store.create(StoreKey{"VirtualMachineInstance", "ns1", "a"}, json::object());
  EXPECT_EQ(store.list("VirtualMachine", "", nullptr).size(), 2u);
  auto ns1 = store.list("VirtualMachine", "ns1", nullptr);
  ASSERT_EQ(ns1.size(), 1u);
  EXPECT_EQ(ns1[0].key.name, "a");
  EXPECT_EQ(store.list("", "ns1", nullptr).size(), 2u);
  int64_t revision = 0;
  EXPECT_EQ(store.list("", "", &revision).size(), 4u);
  EXPECT_EQ(revision, 4);
  EXPECT_TRUE(store.list("VirtualMachine", "zzz", nullptr).empty());
}

TEST(MemoryStore, ListAfterReadsOnePageInKeyOrder) {
  MemoryStore store;
  for (const char *name : {"d", "b", "a", "c"}) store.create(vm(name, "ns1"), json::object());
  store.create(vm("a", "ns2"), json::object());
  store.create(StoreKey{"Node", "", "n1"}, json::object());
  store.create(StoreKey{"VirtualMachineInstance", "ns1", "a"}, json::object());
  auto names = [](const std::vector<StoredObject> &page) {
    std::string out;
    for (const auto &object : page) out += object.key.ns + "/" + object.key.name + " ";
    return out;
  };
  bool more = false;
  EXPECT_EQ(names(store.list_after("VirtualMachine", "", StoreKey{}, 2, &more)), "ns1/a ns1/b ");
  EXPECT_TRUE(more);
  auto rest = store.list_after("VirtualMachine", "", vm("b", "ns1"), 10, &more);
  EXPECT_EQ(names(rest), "ns1/c ns1/d ns2/a ");
  EXPECT_FALSE(more);
  EXPECT_EQ(names(store.list_after("VirtualMachine", "ns1", vm("c", "ns1"), 1, &more)), "ns1/d ");
  EXPECT_FALSE(more);
  // A key before the kind's range starts at its first object; every kind in key order.
  EXPECT_EQ(names(store.list_after("VirtualMachine", "ns2", StoreKey{"Node", "", "n1"}, 5)),
            "ns2/a ");
  EXPECT_EQ(store.list_after("", "", StoreKey{}, 100).size(), 7u);
  EXPECT_EQ(names(store.list_after("", "ns1", vm("d", "ns1"), 100)), "ns1/a ");
}

TEST(MemoryStore, WatchDeliversChangesInRevisionOrder) {
  MemoryStore store;
  auto watch = store.watch(WatchFilter{"VirtualMachine", "", ""}, store.revision());
  std::thread writer([&] {
    for (int i = 0; i < 50; ++i) {
      store.put(vm("vm" + std::to_string(i % 5)), json{{"i", i}});
      store.put(StoreKey{"Node", "", "ignored"}, json{{"i", i}});
    }
    store.remove(vm("vm0"));
  });
  int64_t last = 0;
  int added = 0, modified = 0, deleted = 0;
  for (int i = 0; i < 51; ++i) {
    auto event = watch->next(5s);
    ASSERT_NE(event, nullptr) << "event " << i;
    EXPECT_EQ(event->object.key.kind, "VirtualMachine");
    EXPECT_GT(event->revision, last);
    last = event->revision;
    if (event->type == WatchType::kAdded) ++added;
    if (event->type == WatchType::kModified) ++modified;
    if (event->type == WatchType::kDeleted) ++deleted;
  }
  writer.join();
  EXPECT_EQ(added, 5);
  EXPECT_EQ(modified, 45);
  EXPECT_EQ(deleted, 1);
  EXPECT_EQ(watch->next(20ms), nullptr);
}

TEST(MemoryStore, WatchCountsTheEventsItHolds) {
  MemoryStore store;
  auto watch = store.watch(WatchFilter{"VirtualMachine", "", ""}, store.revision());
  EXPECT_EQ(watch->pending(), 0u);
  store.put(vm("a"), json::object());
  store.put(StoreKey{"Node", "", "ignored"}, json::object());
  store.put(vm("b"), json::object());
  EXPECT_EQ(watch->pending(), 2u);
  ASSERT_NE(watch->next(1s), nullptr);
  EXPECT_EQ(watch->pending(), 1u);
  ASSERT_NE(watch->next(1s), nullptr);
  EXPECT_EQ(watch->pending(), 0u);
}

TEST(MemoryStore, WatchFromRevisionReplaysHistory) {
  MemoryStore store;
  store.put(vm("a"), json{{"n", 1}});
  const int64_t mark = store.revision();
  store.put(vm("a"), json{{"n", 2}});
  store.put(vm("b"), json{{"n", 3}});
  auto watch = store.watch(WatchFilter{}, mark);
  auto first = watch->next(1s);
  auto second = watch->next(1s);
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->type, WatchType::kModified);
  EXPECT_EQ(first->object.object["n"], 2);
  EXPECT_EQ(second->type, WatchType::kAdded);
  EXPECT_EQ(second->object.key.name, "b");
  EXPECT_EQ(watch->next(10ms), nullptr);
}

TEST(MemoryStore, WatchFromZeroListsCurrentObjects) {
  MemoryStore store;
  store.put(vm("a"), json::object());
  store.put(vm("b"), json::object());
  store.remove(vm("a"));
  auto watch = store.watch(WatchFilter{"VirtualMachine", "default", ""}, 0);
  auto event = watch->next(1s);
  ASSERT_TRUE(event);
  EXPECT_EQ(event->type, WatchType::kAdded);
  EXPECT_EQ(event->object.key.name, "b");
  EXPECT_EQ(watch->next(10ms), nullptr);
}

TEST(MemoryStore, WatchFromCompactedRevisionFails) {
  MemoryStore store(/*history_limit=*/3);
  for (int i = 0; i < 10; ++i) store.put(vm("a"), json{{"i", i}});
  try {
    store.watch(WatchFilter{}, 2);
    FAIL() << "watch from a compacted revision succeeded";
  } catch (const StoreError &e) {
    EXPECT_EQ(e.code(), StoreErrorCode::kCompacted);
  }
  EXPECT_NO_THROW(store.watch(WatchFilter{}, 8));
}

TEST(MemoryStore, CancelUnblocksWatch) {
  MemoryStore store;
  auto watch = store.watch(WatchFilter{}, 0);
  std::thread canceller([&] {
    std::this_thread::sleep_for(50ms);
    watch->cancel();
  });
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(watch->next(10s), nullptr);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  canceller.join();
  EXPECT_TRUE(watch->closed());
}

TEST(OpenStore, RejectsUnknownScheme) {
  EXPECT_THROW(open_store("etcd://x"), std::invalid_argument);
  EXPECT_NE(open_store("memory"), nullptr);
}

}  // namespace
}  // namespace hal::controller
