// store_test.cc - the Store conformance suite (store_conformance.h) on the in-memory and SQLite
// stores (etcd_store_test.cc runs it on etcd), copy_store, and open_store's URL schemes.
#include <gtest/gtest.h>

#include <atomic>

#include "controller/store/copy_store.h"
#include "controller/store/memory_store.h"
#include "controller/store/sqlite_store.h"
#include "controller/store/store_conformance.h"

namespace hal::controller {
namespace {

INSTANTIATE_TEST_SUITE_P(Memory, StoreConformance,
                         ::testing::Values(StoreBackend{"Memory", nullptr,
                                                        [](const std::string &, size_t history) {
                                                          return std::make_unique<MemoryStore>(
                                                              history);
                                                        },
                                                        nullptr, true}),
                         backend_name);

std::atomic<int> sqlite_files{0};

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformance,
                         ::testing::Values(StoreBackend{
                             "Sqlite", nullptr,
                             [](const std::string &dir, size_t history) {
                               return std::make_unique<SqliteStore>(
                                   dir + "/store-" + std::to_string(++sqlite_files) + ".db",
                                   history);
                             },
                             nullptr, true}),
                         backend_name);

TEST(CopyStore, CopiesEveryObjectIntoAnEmptyStoreOnly) {
  MemoryStore from;
  for (int i = 0; i < 250; ++i)
    from.create(StoreKey{"VirtualMachine", i % 2 ? "a" : "b", "vm-" + std::to_string(i)},
                nlohmann::json{{"i", i}});
  from.create(StoreKey{"Node", "", "n1"}, nlohmann::json::object());
  hal::testing::TempDir dir;
  SqliteStore to(dir.str() + "/to.db");
  EXPECT_EQ(copy_store(from, to), 251u);
  EXPECT_EQ(to.write_transactions(), 3u);  // 100 objects per transaction
  auto copied = to.get(StoreKey{"VirtualMachine", "a", "vm-7"});
  ASSERT_TRUE(copied.has_value());
  EXPECT_EQ(copied->object["i"], 7);
  EXPECT_EQ(to.list("", "", nullptr).size(), 251u);
  try {
    copy_store(from, to);
    FAIL() << "copied into a store that is not empty";
  } catch (const StoreError &e) {
    EXPECT_EQ(e.code(), StoreErrorCode::kAlreadyExists);
  }
}

TEST(OpenStore, RejectsUnknownScheme) {
  EXPECT_THROW(open_store("zookeeper://x:1"), std::invalid_argument);
  EXPECT_THROW(open_store("etcd://"), std::invalid_argument);
  EXPECT_THROW(open_store("etcd://host"), std::invalid_argument);
  EXPECT_THROW(open_store("etcd://host:port"), std::invalid_argument);
  EXPECT_NE(open_store("memory"), nullptr);
}

}  // namespace
}  // namespace hal::controller
