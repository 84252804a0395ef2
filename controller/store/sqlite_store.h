// sqlite_store.h - the embedded default Store: a SQLite file (WAL) with one table of objects
// keyed by kind/namespace/name (JSON text + revision) and a meta table holding the global
// revision. The whole content is cached in memory (MemoryStore); every transaction is written to
// the file before it becomes visible, so reopening the file shows the same objects and revision.
#ifndef HAL_CONTROLLER_STORE_SQLITE_STORE_H
#define HAL_CONTROLLER_STORE_SQLITE_STORE_H

#include <string>

#include "controller/store/memory_store.h"

struct sqlite3;
struct sqlite3_stmt;

namespace hal::controller {

/** SQLite-backed Store. */
class SqliteStore : public MemoryStore {
 public:
  /** Opens (creating if needed) the store file at `path`, keeping the last `history_limit`
   *  changes for watches from a revision (MemoryStore). Throws StoreError(kCorrupt) when the
   *  file is not a SQLite database or is a database that is not a HAL controller store, and
   *  StoreError(kIo) when it cannot be opened. */
  explicit SqliteStore(const std::string &path, size_t history_limit = 10000);
  ~SqliteStore() override;
  SqliteStore(const SqliteStore &) = delete;
  SqliteStore &operator=(const SqliteStore &) = delete;

  /** The file path. */
  const std::string &path() const { return path_; }

 protected:
  void persist(const std::vector<std::shared_ptr<const WatchEvent>> &changes,
               int64_t revision) override;

 private:
  void exec(const char *sql);
  [[noreturn]] void fail(StoreErrorCode code, const std::string &what);
  void prepare(const char *sql, sqlite3_stmt **statement);
  void initialise();
  void load_all();

  std::string path_;
  sqlite3 *db_ = nullptr;
  sqlite3_stmt *upsert_ = nullptr;
  sqlite3_stmt *delete_ = nullptr;
  sqlite3_stmt *set_revision_ = nullptr;
};

}  // namespace hal::controller

#endif  // HAL_CONTROLLER_STORE_SQLITE_STORE_H
