// store_conformance.cc - the Store conformance tests (store_conformance.h), compiled into each
// test program that instantiates them for its store: CAS conflicts, transactions (all or nothing,
// one revision, one key written twice), list filters and order, watch ordering, history,
// compaction, cancel and store shutdown.
#include "controller/store/store_conformance.h"

#include <thread>

namespace hal::controller {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

StoreKey vm(const std::string &name, const std::string &ns = "default") {
  return StoreKey{"VirtualMachine", ns, name};
}

TEST_P(StoreConformance, CreateGetAndResourceVersion) {
  auto store = open();
  const int64_t r0 = store->revision();
  if (GetParam().starts_at_zero) {
    EXPECT_EQ(r0, 0);
  }
  auto created = store->create(vm("a"), json{{"spec", {{"x", 1}}}});
  EXPECT_EQ(created.version, r0 + 1);
  EXPECT_EQ(created.object["metadata"]["resourceVersion"], std::to_string(r0 + 1));
  auto got = store->get(vm("a"));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->object["spec"]["x"], 1);
  EXPECT_EQ(got->version, r0 + 1);
  EXPECT_EQ(got->object["metadata"]["resourceVersion"], std::to_string(r0 + 1));
  EXPECT_FALSE(store->get(vm("b")).has_value());
  EXPECT_EQ(store->revision(), r0 + 1);
}

TEST_P(StoreConformance, CreateTwiceIsAlreadyExists) {
  auto store = open();
  store->create(vm("a"), json::object());
  try {
    store->create(vm("a"), json::object());
    FAIL() << "second create succeeded";
  } catch (const StoreError &e) {
    EXPECT_EQ(e.code(), StoreErrorCode::kAlreadyExists);
  }
}

TEST_P(StoreConformance, UpdateWithStaleVersionConflicts) {
  auto store = open();
  auto first = store->create(vm("a"), json{{"n", 1}});
  auto second = store->update(vm("a"), json{{"n", 2}}, first.version);
  EXPECT_GT(second.version, first.version);
  try {
    store->update(vm("a"), json{{"n", 3}}, first.version);
    FAIL() << "stale update succeeded";
  } catch (const StoreError &e) {
    EXPECT_EQ(e.code(), StoreErrorCode::kConflict);
    EXPECT_NE(std::string(e.what()).find("VirtualMachine/default/a"), std::string::npos);
  }
  EXPECT_EQ(store->get(vm("a"))->object["n"], 2);
  // Unconditional update still works.
  store->update(vm("a"), json{{"n", 4}}, 0);
  EXPECT_EQ(store->get(vm("a"))->object["n"], 4);
}

TEST_P(StoreConformance, UpdateMissingIsNotFound) {
  auto store = open();
  try {
    store->update(vm("nope"), json::object(), 0);
    FAIL() << "update of a missing object succeeded";
  } catch (const StoreError &e) {
    EXPECT_EQ(e.code(), StoreErrorCode::kNotFound);
  }
}

TEST_P(StoreConformance, DeleteWithVersionCheck) {
  auto store = open();
  auto a = store->create(vm("a"), json::object());
  store->update(vm("a"), json{{"n", 1}}, 0);
  EXPECT_THROW(store->remove(vm("a"), a.version), StoreError);
  auto removed = store->remove(vm("a"));
  ASSERT_TRUE(removed.has_value());
  EXPECT_EQ(removed->object["n"], 1);
  EXPECT_FALSE(store->get(vm("a")).has_value());
  EXPECT_FALSE(store->remove(vm("a")).has_value());
  // A versioned remove of a missing object is a no-op too, alone or in a batch.
  EXPECT_FALSE(store->remove(vm("a"), a.version).has_value());
  auto written = store->commit({
      StoreWrite{StoreWrite::Op::kPut, vm("b"), json{{"n", 2}}, 0, false},
      StoreWrite{StoreWrite::Op::kDelete, vm("a"), json(), a.version, true},
  });
  ASSERT_EQ(written.size(), 1u);
  EXPECT_EQ(written[0]->key.name, "b");
}

TEST_P(StoreConformance, TransactionIsAllOrNothing) {
  auto store = open();
  store->create(vm("exists"), json::object());
  const int64_t before = store->revision();
  const uint64_t transactions = store->write_transactions();
  std::vector<StoreWrite> writes = {
      {StoreWrite::Op::kCreate, vm("new"), json::object(), 0, false},
      {StoreWrite::Op::kCreate, vm("exists"), json::object(), 0, false},
  };
  try {
    store->commit(writes);
    FAIL() << "a create of an existing object committed";
  } catch (const StoreError &e) {
    EXPECT_EQ(e.code(), StoreErrorCode::kAlreadyExists);
    EXPECT_NE(std::string(e.what()).find("VirtualMachine/default/exists"), std::string::npos);
  }
  EXPECT_FALSE(store->get(vm("new")).has_value());
  EXPECT_EQ(store->revision(), before);
  EXPECT_EQ(store->write_transactions(), transactions);

  writes[1] = {StoreWrite::Op::kPut, vm("exists"), json{{"v", 2}}, 0, false};
  auto written = store->commit(writes);
  ASSERT_EQ(written.size(), 2u);
  EXPECT_EQ(written[0]->version, written[1]->version);  // One revision per transaction.
  EXPECT_EQ(written[0]->version, before + 1);
  EXPECT_EQ(store->write_transactions(), transactions + 1);
  EXPECT_EQ(store->object_writes(), 3u);
}

TEST_P(StoreConformance, TransactionWritesOneKeyTwice) {
  auto store = open();
  auto written = store->commit({
      StoreWrite{StoreWrite::Op::kCreate, vm("a"), json{{"n", 1}}, 0, false},
      StoreWrite{StoreWrite::Op::kUpdate, vm("a"), json{{"n", 2}}, 0, false},
      StoreWrite{StoreWrite::Op::kCreate, vm("b"), json{{"n", 3}}, 0, false},
      StoreWrite{StoreWrite::Op::kDelete, vm("b"), json(), 0, false},
  });
  ASSERT_EQ(written.size(), 4u);
  EXPECT_EQ(written[0]->object["n"], 1);
  EXPECT_EQ(written[1]->object["n"], 2);
  EXPECT_EQ(written[3]->object["n"], 3);  // deleted: as it was
  EXPECT_EQ(store->get(vm("a"))->object["n"], 2);
  EXPECT_FALSE(store->get(vm("b")).has_value());
  // A second create of a key the batch created fails the whole batch.
  EXPECT_THROW(store->commit({
                   StoreWrite{StoreWrite::Op::kCreate, vm("c"), json::object(), 0, false},
                   StoreWrite{StoreWrite::Op::kCreate, vm("c"), json::object(), 0, false},
               }),
               StoreError);
  EXPECT_FALSE(store->get(vm("c")).has_value());
}

TEST_P(StoreConformance, ListFiltersByKindAndNamespace) {
  auto store = open();
  const int64_t r0 = store->revision();
  store->create(vm("b", "ns2"), json::object());
  store->create(vm("a", "ns1"), json::object());
  store->create(StoreKey{"Node", "", "n1"}, json::object());
  store->create(StoreKey{"VirtualMachineInstance", "ns1", "a"}, json::object());
  auto vms = store->list("VirtualMachine", "", nullptr);
  ASSERT_EQ(vms.size(), 2u);
  EXPECT_EQ(vms[0].key.ns, "ns1");  // ordered by key
  auto ns1 = store->list("VirtualMachine", "ns1", nullptr);
  ASSERT_EQ(ns1.size(), 1u);
  EXPECT_EQ(ns1[0].key.name, "a");
  EXPECT_EQ(ns1[0].object["metadata"]["resourceVersion"], std::to_string(ns1[0].version));
  EXPECT_EQ(store->list("", "ns1", nullptr).size(), 2u);
  int64_t revision = 0;
  auto all = store->list("", "", &revision);
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0].key.kind, "Node");
  EXPECT_EQ(revision, r0 + 4);
  EXPECT_TRUE(store->list("VirtualMachine", "zzz", nullptr).empty());
  EXPECT_TRUE(store->list("VirtualMachine", "ns", nullptr).empty());  // not a prefix of ns1
}

TEST_P(StoreConformance, ListAfterReadsOnePageInKeyOrder) {
  auto owned = open();
  Store &store = *owned;
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

TEST_P(StoreConformance, WatchDeliversChangesInRevisionOrder) {
  auto store = open();
  auto watch = store->watch(WatchFilter{"VirtualMachine", "", ""}, store->revision());
  std::thread writer([&] {
    for (int i = 0; i < 50; ++i) {
      store->put(vm("vm" + std::to_string(i % 5)), json{{"i", i}});
      store->put(StoreKey{"Node", "", "ignored"}, json{{"i", i}});
    }
    store->remove(vm("vm0"));
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

TEST_P(StoreConformance, WatchCountsTheEventsItHolds) {
  auto store = open();
  auto watch = store->watch(WatchFilter{"VirtualMachine", "", ""}, store->revision());
  EXPECT_EQ(watch->pending(), 0u);
  store->put(vm("a"), json::object());
  store->put(StoreKey{"Node", "", "ignored"}, json::object());
  store->put(vm("b"), json::object());
  // Queued at once by the memory store, as they arrive from etcd.
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (watch->pending() < 2 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  EXPECT_EQ(watch->pending(), 2u);
  ASSERT_NE(watch->next(1s), nullptr);
  EXPECT_EQ(watch->pending(), 1u);
  ASSERT_NE(watch->next(1s), nullptr);
  EXPECT_EQ(watch->pending(), 0u);
}

TEST_P(StoreConformance, WatchFromRevisionReplaysHistory) {
  auto store = open();
  store->put(vm("a"), json{{"n", 1}});
  const int64_t mark = store->revision();
  store->put(vm("a"), json{{"n", 2}});
  store->put(vm("b"), json{{"n", 3}});
  store->remove(vm("b"));
  auto watch = store->watch(WatchFilter{}, mark);
  auto first = watch->next(5s);
  auto second = watch->next(5s);
  auto third = watch->next(5s);
  ASSERT_TRUE(first && second && third);
  EXPECT_EQ(first->type, WatchType::kModified);
  EXPECT_EQ(first->object.object["n"], 2);
  EXPECT_EQ(first->revision, mark + 1);
  EXPECT_EQ(second->type, WatchType::kAdded);
  EXPECT_EQ(second->object.key.name, "b");
  EXPECT_EQ(third->type, WatchType::kDeleted);
  EXPECT_EQ(third->object.object["n"], 3);  // as it was
  EXPECT_EQ(third->object.version, mark + 2);
  EXPECT_EQ(third->revision, mark + 3);
  EXPECT_EQ(watch->next(10ms), nullptr);
}

TEST_P(StoreConformance, WatchFromZeroListsCurrentObjects) {
  auto store = open();
  store->put(vm("a"), json::object());
  store->put(vm("b"), json::object());
  store->remove(vm("a"));
  store->put(vm("c", "other"), json::object());
  auto watch = store->watch(WatchFilter{"VirtualMachine", "default", ""}, 0);
  auto event = watch->next(1s);
  ASSERT_TRUE(event);
  EXPECT_EQ(event->type, WatchType::kAdded);
  EXPECT_EQ(event->object.key.name, "b");
  EXPECT_EQ(watch->next(10ms), nullptr);
  // Then the live changes.
  store->put(vm("d"), json::object());
  event = watch->next(5s);
  ASSERT_TRUE(event);
  EXPECT_EQ(event->object.key.name, "d");
}

TEST_P(StoreConformance, WatchByNameSeesOnlyThatObject) {
  auto store = open();
  auto watch = store->watch(WatchFilter{"VirtualMachine", "default", "a"}, store->revision());
  store->put(vm("ab"), json::object());
  store->put(vm("a", "other"), json::object());
  store->put(vm("a"), json{{"n", 1}});
  auto event = watch->next(5s);
  ASSERT_TRUE(event);
  EXPECT_EQ(event->object.key, vm("a"));
  EXPECT_EQ(watch->next(50ms), nullptr);
}

TEST_P(StoreConformance, WatchFromCompactedRevisionFails) {
  auto store = open(/*history_limit=*/3);
  const int64_t r0 = store->revision();
  for (int i = 0; i < 10; ++i) store->put(vm("a"), json{{"i", i}});
  if (GetParam().compact) GetParam().compact(*store, r0 + 8);
  try {
    store->watch(WatchFilter{}, r0 + 2);
    FAIL() << "watch from a compacted revision succeeded";
  } catch (const StoreError &e) {
    EXPECT_EQ(e.code(), StoreErrorCode::kCompacted);
  }
  auto watch = store->watch(WatchFilter{}, r0 + 8);
  auto event = watch->next(5s);
  ASSERT_TRUE(event);
  EXPECT_EQ(event->revision, r0 + 9);
}

TEST_P(StoreConformance, CancelUnblocksWatch) {
  auto store = open();
  auto watch = store->watch(WatchFilter{}, 0);
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

TEST_P(StoreConformance, ClosingTheStoreClosesItsWatches) {
  auto store = open();
  auto watch = store->watch(WatchFilter{}, 0);
  store.reset();
  EXPECT_EQ(watch->next(5s), nullptr);
  EXPECT_TRUE(watch->closed());
}

}  // namespace
}  // namespace hal::controller
