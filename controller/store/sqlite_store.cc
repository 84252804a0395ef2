// sqlite_store.cc - SQLite persistence under the in-memory store.
#include "controller/store/sqlite_store.h"

#include <sqlite3.h>

#include "controller/store/owner_only.h"

namespace hal::controller {
namespace {

// PRAGMA application_id of a HAL controller store ("HALC").
constexpr int kApplicationId = 0x48414c43;
// PRAGMA user_version: the schema version.
constexpr int kSchemaVersion = 1;

/** Finalises a statement at scope exit. */
struct StatementGuard {
  sqlite3_stmt *statement;
  ~StatementGuard() { sqlite3_finalize(statement); }
};

}  // namespace

SqliteStore::SqliteStore(const std::string &path, size_t history_limit)
    : MemoryStore(history_limit), path_(path) {
  make_store_files_owner_only(path);  // -wal and -shm then inherit its 0600
  int rc =
      sqlite3_open_v2(path.c_str(), &db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    throw StoreError(StoreErrorCode::kIo, path + ": cannot open store: " + message);
  }
  try {
    sqlite3_busy_timeout(db_, 5000);
    initialise();
    load_all();
  } catch (...) {
    sqlite3_finalize(upsert_);
    sqlite3_finalize(delete_);
    sqlite3_finalize(set_revision_);
    sqlite3_close(db_);
    db_ = nullptr;
    throw;
  }
}

SqliteStore::~SqliteStore() {
  close_watches();
  sqlite3_finalize(upsert_);
  sqlite3_finalize(delete_);
  sqlite3_finalize(set_revision_);
  sqlite3_close(db_);
}

void SqliteStore::fail(StoreErrorCode code, const std::string &what) {
  int rc = sqlite3_extended_errcode(db_);
  if ((rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT) {
    code = StoreErrorCode::kCorrupt;
  }
  throw StoreError(code, path_ + ": " + what + ": " + sqlite3_errmsg(db_) +
                             (code == StoreErrorCode::kCorrupt
                                  ? " (the file is damaged or not a HAL controller store)"
                                  : ""));
}

void SqliteStore::exec(const char *sql) {
  char *error = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    sqlite3_free(error);
    fail(StoreErrorCode::kIo, std::string("cannot run \"") + sql + "\"");
  }
}

void SqliteStore::prepare(const char *sql, sqlite3_stmt **statement) {
  if (sqlite3_prepare_v2(db_, sql, -1, statement, nullptr) != SQLITE_OK) {
    fail(StoreErrorCode::kIo, std::string("cannot prepare \"") + sql + "\"");
  }
}

void SqliteStore::initialise() {
  // Reading the header first turns a foreign/corrupt file into SQLITE_NOTADB here.
  sqlite3_stmt *statement = nullptr;
  prepare("PRAGMA application_id", &statement);
  int application_id = 0;
  {
    StatementGuard guard{statement};
    if (sqlite3_step(statement) != SQLITE_ROW) fail(StoreErrorCode::kCorrupt, "cannot read header");
    application_id = sqlite3_column_int(statement, 0);
  }
  int tables = 0;
  prepare("SELECT count(*) FROM sqlite_master", &statement);
  {
    StatementGuard guard{statement};
    if (sqlite3_step(statement) != SQLITE_ROW) fail(StoreErrorCode::kCorrupt, "cannot read schema");
    tables = sqlite3_column_int(statement, 0);
  }
  if (application_id != kApplicationId) {
    if (tables > 0 || application_id != 0) {
      throw StoreError(StoreErrorCode::kCorrupt,
                       path_ +
                           ": is a SQLite database but not a HAL controller store "
                           "(application_id " +
                           std::to_string(application_id) + ", " + std::to_string(tables) +
                           " schema objects); refusing to use it");
    }
    exec("PRAGMA journal_mode=WAL");
    exec("BEGIN IMMEDIATE");
    exec(
        "CREATE TABLE objects (kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL, "
        "json TEXT NOT NULL, revision INTEGER NOT NULL, PRIMARY KEY (kind, namespace, name))");
    exec("CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)");
    exec("INSERT INTO meta (key, value) VALUES ('revision', 0)");
    exec(("PRAGMA application_id=" + std::to_string(kApplicationId)).c_str());
    exec(("PRAGMA user_version=" + std::to_string(kSchemaVersion)).c_str());
    exec("COMMIT");
  } else {
    prepare("PRAGMA user_version", &statement);
    StatementGuard guard{statement};
    if (sqlite3_step(statement) != SQLITE_ROW ||
        sqlite3_column_int(statement, 0) != kSchemaVersion) {
      throw StoreError(StoreErrorCode::kCorrupt,
                       path_ + ": HAL controller store with unsupported schema version " +
                           std::to_string(sqlite3_column_int(statement, 0)));
    }
    exec("PRAGMA journal_mode=WAL");
  }
  exec("PRAGMA synchronous=NORMAL");
  prepare(
      "INSERT INTO objects (kind, namespace, name, json, revision) VALUES (?, ?, ?, ?, ?) "
      "ON CONFLICT (kind, namespace, name) DO UPDATE SET json = excluded.json, "
      "revision = excluded.revision",
      &upsert_);
  prepare("DELETE FROM objects WHERE kind = ? AND namespace = ? AND name = ?", &delete_);
  prepare("UPDATE meta SET value = ? WHERE key = 'revision'", &set_revision_);
}

void SqliteStore::load_all() {
  sqlite3_stmt *statement = nullptr;
  int64_t revision = 0;
  prepare("SELECT value FROM meta WHERE key = 'revision'", &statement);
  {
    StatementGuard guard{statement};
    if (sqlite3_step(statement) != SQLITE_ROW) {
      throw StoreError(StoreErrorCode::kCorrupt, path_ + ": store has no revision record");
    }
    revision = sqlite3_column_int64(statement, 0);
  }
  std::vector<StoredObject> objects;
  prepare("SELECT kind, namespace, name, json, revision FROM objects", &statement);
  StatementGuard guard{statement};
  int rc;
  while ((rc = sqlite3_step(statement)) == SQLITE_ROW) {
    StoredObject object;
    auto text = [&](int column) {
      const unsigned char *value = sqlite3_column_text(statement, column);
      return value != nullptr ? std::string(reinterpret_cast<const char *>(value)) : std::string();
    };
    object.key = StoreKey{text(0), text(1), text(2)};
    object.version = sqlite3_column_int64(statement, 4);
    try {
      object.object = nlohmann::json::parse(text(3));
    } catch (const nlohmann::json::exception &e) {
      throw StoreError(StoreErrorCode::kCorrupt,
                       path_ + ": object " + object.key.str() + " is not valid JSON: " + e.what());
    }
    objects.push_back(std::move(object));
  }
  if (rc != SQLITE_DONE) fail(StoreErrorCode::kCorrupt, "cannot read objects");
  load(std::move(objects), revision);
}

void SqliteStore::persist(const std::vector<std::shared_ptr<const WatchEvent>> &changes,
                          int64_t revision) {
  exec("BEGIN IMMEDIATE");
  try {
    for (const auto &shared : changes) {
      const WatchEvent &change = *shared;
      const StoreKey &key = change.object.key;
      sqlite3_stmt *statement = change.type == WatchType::kDeleted ? delete_ : upsert_;
      sqlite3_reset(statement);
      sqlite3_bind_text(statement, 1, key.kind.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(statement, 2, key.ns.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(statement, 3, key.name.c_str(), -1, SQLITE_TRANSIENT);
      if (change.type != WatchType::kDeleted) {
        std::string text = change.object.object.dump();
        sqlite3_bind_text(statement, 4, text.c_str(), static_cast<int>(text.size()),
                          SQLITE_TRANSIENT);
        sqlite3_bind_int64(statement, 5, change.object.version);
      }
      if (sqlite3_step(statement) != SQLITE_DONE) fail(StoreErrorCode::kIo, "cannot write object");
    }
    sqlite3_reset(set_revision_);
    sqlite3_bind_int64(set_revision_, 1, revision);
    if (sqlite3_step(set_revision_) != SQLITE_DONE) {
      fail(StoreErrorCode::kIo, "cannot write revision");
    }
    exec("COMMIT");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

}  // namespace hal::controller
