// memory_store.h - the in-memory Store: an ordered map of objects, the global revision, a
// bounded history of changes for watches from a revision, and per-watch event queues. The SQLite
// store derives from it and persists every transaction before it becomes visible.
#ifndef HAL_CONTROLLER_STORE_MEMORY_STORE_H
#define HAL_CONTROLLER_STORE_MEMORY_STORE_H

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include "controller/store/store.h"

namespace hal::controller {

class QueueWatch;

/** In-memory Store (also the cache under SqliteStore). */
class MemoryStore : public Store {
 public:
  /** An empty store; `history_limit` changes are kept for watches from a revision. */
  explicit MemoryStore(size_t history_limit = 100000);
  ~MemoryStore() override;

  std::optional<StoredObject> get(const StoreKey &key) const override;
  std::vector<StoredObject> list(const std::string &kind, const std::string &ns,
                                 int64_t *revision) const override;
  std::vector<StoredObject> commit(std::vector<StoreWrite> writes) override;
  std::unique_ptr<Watch> watch(const WatchFilter &filter, int64_t since_revision) override;
  int64_t revision() const override;
  uint64_t write_transactions() const override { return transactions_.load(); }
  uint64_t object_writes() const override { return object_writes_.load(); }

 protected:
  /** Called with the lock held, after validation and before the change is visible: persist the
   *  changes (kDelete entries carry the removed object) at `revision`. Throwing aborts it. */
  virtual void persist(const std::vector<WatchEvent> &changes, int64_t revision);

  /** Replaces the content (used by SqliteStore when it opens a file). */
  void load(std::vector<StoredObject> objects, int64_t revision);

  /** Closes every watch (called by destructors). */
  void close_watches();

 private:
  friend class QueueWatch;
  void unregister(QueueWatch *watch);

  // Each change is built once and then shared (immutable) by the object map, the history and
  // every watch queue; callers get copies.
  mutable std::mutex mutex_;
  std::map<StoreKey, std::shared_ptr<const StoredObject>> objects_;
  int64_t revision_ = 0;
  int64_t history_start_ = 0;  ///< Changes after this revision are in history_.
  std::deque<std::shared_ptr<const WatchEvent>> history_;
  size_t history_limit_;
  std::set<QueueWatch *> watches_;
  std::atomic<uint64_t> transactions_{0};
  std::atomic<uint64_t> object_writes_{0};
};

}  // namespace hal::controller

#endif  // HAL_CONTROLLER_STORE_MEMORY_STORE_H
