// store_test.cc - the Store conformance suite (store_conformance.h) on the in-memory and SQLite
// stores (etcd_store_test.cc runs it on etcd), and open_store's URL schemes.
#include <gtest/gtest.h>

#include <atomic>

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

TEST(OpenStore, RejectsUnknownScheme) {
  EXPECT_THROW(open_store("zookeeper://x:1"), std::invalid_argument);
  EXPECT_THROW(open_store("etcd://"), std::invalid_argument);
  EXPECT_THROW(open_store("etcd://host"), std::invalid_argument);
  EXPECT_THROW(open_store("etcd://host:port"), std::invalid_argument);
  EXPECT_NE(open_store("memory"), nullptr);
}

}  // namespace
}  // namespace hal::controller
