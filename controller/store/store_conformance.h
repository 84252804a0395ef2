// store_conformance.h - the Store semantics every implementation must keep (CAS conflicts,
// transactions, list filters, watch ordering, history and compaction), as one parameterized
// GoogleTest suite (its tests in store_conformance.cc): store_test.cc runs it on the memory and
// SQLite stores, etcd_store_test.cc on the etcd store. Revisions are checked relative to the
// store's revision when the test began (an etcd store under a fresh key prefix of a shared
// cluster does not start at 0).
#ifndef HAL_CONTROLLER_STORE_STORE_CONFORMANCE_H
#define HAL_CONTROLLER_STORE_STORE_CONFORMANCE_H

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>

#include "controller/store/store.h"
#include "testing/temp_dir.h"

namespace hal::controller {

/** One Store implementation under the shared tests. */
struct StoreBackend {
  std::string name;  ///< Test name suffix.
  /** Why this backend cannot run here ("" when it can). */
  std::function<std::string()> unavailable;
  /** A new store holding no object, its files (if any) in `dir`; `history_limit` bounds the
   *  changes kept for watches from a revision where the store has such a bound. */
  std::function<std::unique_ptr<Store>(const std::string &dir, size_t history_limit)> open;
  /** Drops the history before `revision`; nullptr: open()'s history_limit does it instead. */
  std::function<void(Store &, int64_t revision)> compact;
  /** A new store is at revision 0. */
  bool starts_at_zero = true;
};

/** Prints a backend as its name (gtest shows parameters in test listings). */
inline void PrintTo(const StoreBackend &backend, std::ostream *out) {
  *out << backend.name;
}

/** The suite: each test opens its store(s) through the backend. */
class StoreConformance : public ::testing::TestWithParam<StoreBackend> {
 protected:
  void SetUp() override {
    const std::string why = GetParam().unavailable ? GetParam().unavailable() : "";
    if (!why.empty()) {
      GTEST_SKIP() << why;
    }
  }
  /** A new empty store. */
  std::unique_ptr<Store> open(size_t history_limit = 10000) {
    return GetParam().open(dir_.str(), history_limit);
  }
  hal::testing::TempDir dir_{"hal-store-conformance-"};
};

/** The backend's name, for test names. */
inline std::string backend_name(const ::testing::TestParamInfo<StoreBackend> &info) {
  return info.param.name;
}

}  // namespace hal::controller

#endif  // HAL_CONTROLLER_STORE_STORE_CONFORMANCE_H
