// sqlite_store_test.cc - the SQLite store: persistence across reopen, transactions, and clear
// errors for corrupted or foreign database files.
#include "controller/store/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace hal::controller {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

/** A fresh temporary directory removed at the end of the test. */
class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("hal-store-test-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string &name = "store.db") const { return (dir_ / name).string(); }
  fs::path dir_;
};

TEST_F(SqliteStoreTest, ReopenShowsSameObjectsAndRevision) {
  int64_t revision = 0;
  {
    SqliteStore store(path());
    store.create(StoreKey{"VirtualMachine", "default", "a"}, json{{"spec", {{"running", true}}}});
    store.create(StoreKey{"Node", "", "n1"}, json{{"status", {{"pool", "mock"}}}});
    store.create(StoreKey{"VirtualMachine", "default", "gone"}, json::object());
    store.remove(StoreKey{"VirtualMachine", "default", "gone"});
    revision = store.revision();
    EXPECT_EQ(revision, 4);
  }
  SqliteStore store(path());
  EXPECT_EQ(store.revision(), revision);
  auto a = store.get(StoreKey{"VirtualMachine", "default", "a"});
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->object["spec"]["running"], true);
  EXPECT_EQ(a->version, 1);
  EXPECT_EQ(a->object["metadata"]["resourceVersion"], "1");
  EXPECT_TRUE(store.get(StoreKey{"Node", "", "n1"}).has_value());
  EXPECT_FALSE(store.get(StoreKey{"VirtualMachine", "default", "gone"}).has_value());
  // The revision keeps increasing after a reopen (a delete's revision is not reused).
  auto b = store.create(StoreKey{"VirtualMachine", "default", "b"}, json::object());
  EXPECT_EQ(b.version, revision + 1);
  // CAS still applies to reloaded objects.
  EXPECT_THROW(store.update(a->key, json::object(), a->version + 100), StoreError);
}

TEST_F(SqliteStoreTest, TransactionPersistsAtomically) {
  {
    SqliteStore store(path());
    store.create(StoreKey{"K", "", "x"}, json::object());
    std::vector<StoreWrite> bad = {
        {StoreWrite::Op::kCreate, StoreKey{"K", "", "y"}, json::object(), 0, false},
        {StoreWrite::Op::kCreate, StoreKey{"K", "", "x"}, json::object(), 0, false},
    };
    EXPECT_THROW(store.commit(bad), StoreError);
    std::vector<StoreWrite> good = {
        {StoreWrite::Op::kCreate, StoreKey{"K", "", "z1"}, json::object(), 0, false},
        {StoreWrite::Op::kCreate, StoreKey{"K", "", "z2"}, json::object(), 0, false},
        {StoreWrite::Op::kDelete, StoreKey{"K", "", "x"}, json(), 0, false},
    };
    store.commit(good);
    EXPECT_EQ(store.write_transactions(), 2u);
  }
  SqliteStore store(path());
  EXPECT_FALSE(store.get(StoreKey{"K", "", "y"}).has_value());
  EXPECT_FALSE(store.get(StoreKey{"K", "", "x"}).has_value());
  EXPECT_TRUE(store.get(StoreKey{"K", "", "z1"}).has_value());
  EXPECT_TRUE(store.get(StoreKey{"K", "", "z2"}).has_value());
  EXPECT_EQ(store.revision(), 2);
}

TEST_F(SqliteStoreTest, UsesWriteAheadLog) {
  { SqliteStore store(path()); }
  sqlite3 *db = nullptr;
  ASSERT_EQ(sqlite3_open(path().c_str(), &db), SQLITE_OK);
  sqlite3_stmt *statement = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &statement, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(statement), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char *>(sqlite3_column_text(statement, 0)), "wal");
  sqlite3_finalize(statement);
  sqlite3_close(db);
}

// The mode bits of `file` (-1 when it does not exist).
int mode_of(const std::string &file) {
  struct stat st {};
  return ::stat(file.c_str(), &st) == 0 ? static_cast<int>(st.st_mode & 07777) : -1;
}

// Issue 25: a local user could read the controller's write-ahead log. Under a permissive umask
// the database, its -wal and its -shm are still 0600, and an older store's wider files are
// tightened when it is opened.
TEST_F(SqliteStoreTest, StoreFilesAreOwnerOnly) {
  const mode_t old_umask = ::umask(022);
  {
    SqliteStore store(path());
    store.create(StoreKey{"VirtualMachine", "default", "a"}, json::object());
    EXPECT_EQ(mode_of(path()), 0600);
    EXPECT_EQ(mode_of(path() + "-wal"), 0600);
    EXPECT_EQ(mode_of(path() + "-shm"), 0600);
  }
  ASSERT_EQ(::chmod(path().c_str(), 0644), 0);
  std::ofstream(path("store.db-wal"), std::ios::app).close();
  ASSERT_EQ(::chmod(path("store.db-wal").c_str(), 0644), 0);
  {
    SqliteStore store(path());
    EXPECT_EQ(mode_of(path()), 0600);
    EXPECT_EQ(mode_of(path() + "-wal"), 0600);
    EXPECT_TRUE(store.get(StoreKey{"VirtualMachine", "default", "a"}).has_value());
  }
  ::umask(old_umask);
}

TEST_F(SqliteStoreTest, CorruptedFileIsAClearError) {
  {
    std::ofstream out(path("garbage.db"), std::ios::binary);
    for (int i = 0; i < 4096; ++i) out.put(static_cast<char>(i * 7 + 3));
  }
  try {
    SqliteStore store(path("garbage.db"));
    FAIL() << "opened a garbage file";
  } catch (const StoreError &e) {
    EXPECT_EQ(e.code(), StoreErrorCode::kCorrupt);
    EXPECT_NE(std::string(e.what()).find("garbage.db"), std::string::npos) << e.what();
  }
}

TEST_F(SqliteStoreTest, ForeignDatabaseIsRefused) {
  sqlite3 *db = nullptr;
  ASSERT_EQ(sqlite3_open(path("foreign.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE users (id INTEGER)", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  try {
    SqliteStore store(path("foreign.db"));
    FAIL() << "opened a foreign database";
  } catch (const StoreError &e) {
    EXPECT_EQ(e.code(), StoreErrorCode::kCorrupt);
    EXPECT_NE(std::string(e.what()).find("not a HAL controller store"), std::string::npos)
        << e.what();
  }
}

TEST_F(SqliteStoreTest, UnopenablePathIsAnIoError) {
  try {
    SqliteStore store((dir_ / "missing-dir" / "x.db").string());
    FAIL() << "opened a file in a missing directory";
  } catch (const StoreError &e) {
    EXPECT_EQ(e.code(), StoreErrorCode::kIo);
  }
}

TEST_F(SqliteStoreTest, OpenStoreUrl) {
  auto store = open_store("sqlite:" + path("url.db"));
  store->put(StoreKey{"K", "", "a"}, json::object());
  EXPECT_TRUE(fs::exists(path("url.db")));
}

}  // namespace
}  // namespace hal::controller
