// group_commit_test.cc - group commit in MemoryStore (and so SqliteStore): commits that arrive
// while another is being persisted are validated at once (a later commit sees them), stay
// invisible to readers until persisted, are persisted together in revision order, and all fail
// together (with those validated after them) when persisting fails; a write expecting a version
// that a staged write supersedes waits for it instead of being refused early. Also: many threads
// committing at once to a SQLite file lose nothing across a reopen.
#include <gtest/gtest.h>
#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <functional>
#include <future>
#include <thread>

#include "controller/store/memory_store.h"
#include "controller/store/sqlite_store.h"

namespace hal::controller {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

StoreKey vm(const std::string &name) {
  return StoreKey{"VirtualMachine", "default", name};
}

// A store whose persist() can be held and made to fail, and which records each group.
class GatedStore : public MemoryStore {
 public:
  // The next persist() blocks until release().
  void hold() {
    std::lock_guard lock(mu_);
    held_ = true;
  }
  void release() {
    std::lock_guard lock(mu_);
    held_ = false;
    cv_.notify_all();
  }
  // Waits until a persist() is blocked in hold().
  bool wait_blocked() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 10s, [&] { return blocked_; });
  }
  void fail_next() {
    std::lock_guard lock(mu_);
    fail_ = true;
  }
  // Changes and revision of each persist() call.
  std::vector<std::pair<std::vector<std::string>, int64_t>> groups() {
    std::lock_guard lock(mu_);
    return groups_;
  }

 protected:
  void persist(const std::vector<std::shared_ptr<const WatchEvent>> &changes,
               int64_t revision) override {
    std::unique_lock lock(mu_);
    blocked_ = held_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return !held_; });
    blocked_ = false;
    std::vector<std::string> names;
    for (const auto &change : changes) names.push_back(change->object.key.name);
    groups_.emplace_back(names, revision);
    if (fail_) {
      fail_ = false;
      throw StoreError(StoreErrorCode::kIo, "disk full (test)");
    }
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool held_ = false, blocked_ = false, fail_ = false;
  std::vector<std::pair<std::vector<std::string>, int64_t>> groups_;
};

// True once `name` is staged: validation already sees it. The probe, a delete expecting a
// version nothing has, never stages and never waits: it is refused as stale once `name` exists
// in validation's view, and as not found before.
bool staged(Store &store, const std::string &name) {
  for (int i = 0; i < 1000; ++i) {
    try {
      store.commit({StoreWrite{StoreWrite::Op::kDelete, vm(name), json(), 999, false}});
      ADD_FAILURE() << "the probe committed";
      return false;
    } catch (const StoreError &e) {
      if (e.code() == StoreErrorCode::kConflict) return true;
    }
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

TEST(GroupCommit, CommitsWaitingForAPersistArePersistedTogetherInRevisionOrder) {
  GatedStore store;
  store.hold();
  auto a = std::async(std::launch::async, [&] { return store.create(vm("a"), json::object()); });
  ASSERT_TRUE(store.wait_blocked());
  auto b = std::async(std::launch::async, [&] { return store.create(vm("b"), json::object()); });
  ASSERT_TRUE(staged(store, "b"));
  auto c = std::async(std::launch::async, [&] { return store.create(vm("c"), json::object()); });
  ASSERT_TRUE(staged(store, "c"));
  // Validated, but not visible until persisted.
  EXPECT_FALSE(store.get(vm("a")).has_value());
  EXPECT_FALSE(store.get(vm("b")).has_value());
  EXPECT_EQ(store.revision(), 0);

  store.release();
  EXPECT_EQ(a.get().version, 1);
  EXPECT_EQ(b.get().version, 2);
  EXPECT_EQ(c.get().version, 3);
  auto groups = store.groups();
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].first, std::vector<std::string>({"a"}));
  EXPECT_EQ(groups[0].second, 1);
  EXPECT_EQ(groups[1].first, std::vector<std::string>({"b", "c"}));
  EXPECT_EQ(groups[1].second, 3);
  EXPECT_EQ(store.revision(), 3);
  EXPECT_EQ(store.write_transactions(), 3u);
  EXPECT_EQ(store.get(vm("c"))->object["metadata"]["resourceVersion"], "3");
}

TEST(GroupCommit, AFailedPersistFailsTheGroupAndWhatWasValidatedAfterIt) {
  GatedStore store;
  store.create(vm("base"), json::object());
  store.hold();
  store.fail_next();
  auto a = std::async(std::launch::async, [&] { return store.create(vm("a"), json::object()); });
  ASSERT_TRUE(store.wait_blocked());
  // b updates a: it was validated against a, which is never stored.
  auto b = std::async(std::launch::async, [&] {
    return store.commit({StoreWrite{StoreWrite::Op::kPut, vm("b"), json::object(), 0, false},
                         StoreWrite{StoreWrite::Op::kUpdate, vm("a"), json{{"x", 1}}, 2, false}});
  });
  ASSERT_TRUE(staged(store, "b"));
  store.release();
  try {
    a.get();
    ADD_FAILURE() << "the failed commit succeeded";
  } catch (const StoreError &e) {
    EXPECT_EQ(e.code(), StoreErrorCode::kIo);
    EXPECT_NE(std::string(e.what()).find("disk full"), std::string::npos) << e.what();
  }
  try {
    b.get();
    ADD_FAILURE() << "a commit validated against the failed one succeeded";
  } catch (const StoreError &e) {
    EXPECT_EQ(e.code(), StoreErrorCode::kIo);
  }
  EXPECT_FALSE(store.get(vm("a")).has_value());
  EXPECT_FALSE(store.get(vm("b")).has_value());
  EXPECT_EQ(store.revision(), 1);
  // The store goes on from the last stored revision.
  EXPECT_EQ(store.create(vm("a"), json::object()).version, 2);
  EXPECT_EQ(store.revision(), 2);
}

// Two writes of one key: `first` is held in persist, then `second` starts behind it.
struct HeldPair {
  std::future<StoredObject> first, second;
};

// Starts `first` and waits until its commit is held in persist, then starts `second` and checks
// that it is still waiting 200 ms later (refused at once, it would be ready by then). Call it
// under ASSERT_NO_FATAL_FAILURE.
void start_behind_held_commit(GatedStore &store, std::function<StoredObject()> first,
                              std::function<StoredObject()> second, HeldPair &pair) {
  pair.first = std::async(std::launch::async, std::move(first));
  ASSERT_TRUE(store.wait_blocked());
  pair.second = std::async(std::launch::async, std::move(second));
  EXPECT_EQ(pair.second.wait_for(200ms), std::future_status::timeout);
}

// The same for two updates of "x" that both expect version 1, {"by": "first"} then
// {"by": "second"}.
void start_two_updates_behind_held_commit(GatedStore &store, HeldPair &pair) {
  auto update_by = [&store](const char *who) {
    return [&store, who] { return store.update(vm("x"), json{{"by", who}}, 1); };
  };
  start_behind_held_commit(store, update_by("first"), update_by("second"), pair);
}

// A write that expects the published version while a newer write of the key is staged waits for
// it, then is refused as stale: its writer's next read is current (no busy retry loop).
TEST(GroupCommit, AWriteExpectingASupersededVersionWaitsForTheStagedWriteThenIsRefused) {
  GatedStore store;
  store.create(vm("x"), json::object());
  store.hold();
  HeldPair pair;
  ASSERT_NO_FATAL_FAILURE(start_two_updates_behind_held_commit(store, pair));
  EXPECT_EQ(store.get(vm("x"))->version, 1);
  store.release();
  EXPECT_EQ(pair.first.get().version, 2);
  try {
    pair.second.get();
    ADD_FAILURE() << "a write expecting a superseded version succeeded";
  } catch (const StoreError &e) {
    EXPECT_EQ(e.code(), StoreErrorCode::kConflict);
    EXPECT_NE(std::string(e.what()).find("current 2"), std::string::npos) << e.what();
  }
  EXPECT_EQ(store.get(vm("x"))->object["by"], "first");
}

// The same for a create of a key whose create is staged: it waits, then already exists.
TEST(GroupCommit, ACreateOfAKeyWithAStagedCreateWaitsForItThenAlreadyExists) {
  GatedStore store;
  store.hold();
  HeldPair pair;
  auto create = [&] { return store.create(vm("x"), json::object()); };
  ASSERT_NO_FATAL_FAILURE(start_behind_held_commit(store, create, create, pair));
  store.release();
  EXPECT_EQ(pair.first.get().version, 1);
  try {
    pair.second.get();
    ADD_FAILURE() << "a second create succeeded";
  } catch (const StoreError &e) {
    EXPECT_EQ(e.code(), StoreErrorCode::kAlreadyExists);
  }
}

// When the staged write it waited for fails to persist, the waiting write is validated against
// what is stored, which it expected: it succeeds.
TEST(GroupCommit, AWriteWaitingForAStagedWriteThatFailsSucceeds) {
  GatedStore store;
  store.create(vm("x"), json::object());
  store.hold();
  store.fail_next();
  HeldPair pair;
  ASSERT_NO_FATAL_FAILURE(start_two_updates_behind_held_commit(store, pair));
  store.release();
  EXPECT_THROW(pair.first.get(), StoreError);
  EXPECT_EQ(pair.second.get().version, 2);
  EXPECT_EQ(store.get(vm("x"))->object["by"], "second");
}

TEST(GroupCommit, ManyThreadsCommittingToSqliteLoseNothingAcrossAReopen) {
  auto dir = std::filesystem::temp_directory_path() /
             ("hal-gc-" + std::to_string(::getpid()) + "-" + std::to_string(std::rand()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "store.db").string();
  constexpr int kThreads = 8, kEach = 200;
  {
    SqliteStore store(path);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back([&, t] {
        for (int i = 0; i < kEach; ++i) {
          std::string name = "vm-" + std::to_string(t) + "-" + std::to_string(i);
          auto created = store.create(vm(name), json{{"n", i}});
          store.update(vm(name), json{{"n", i + 1}}, created.version);
        }
      });
    for (auto &thread : threads) thread.join();
    EXPECT_EQ(store.revision(), 2 * kThreads * kEach);
  }
  SqliteStore reopened(path);
  EXPECT_EQ(reopened.revision(), 2 * kThreads * kEach);
  auto all = reopened.list("VirtualMachine", "", nullptr);
  ASSERT_EQ(all.size(), static_cast<size_t>(kThreads * kEach));
  for (const auto &object : all) EXPECT_GE(object.object.value("n", 0), 1) << object.key.str();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace hal::controller
