// memory_store.h - the in-memory Store: an ordered map of objects, the global revision, a
// bounded history of changes for watches from a revision, and per-watch event queues. The SQLite
// store derives from it and persists every transaction before it becomes visible. Concurrent
// commits are persisted together (group commit): each is validated and given its revision at
// once, then the first committer that finds no persist under way writes every commit waiting
// so far in one go and publishes them in revision order. A write based on a read of a key that
// a staged commit has since changed waits until that commit is published, so that its writer,
// refused, reads the change (instead of reading the same object again and again).
#ifndef HAL_CONTROLLER_STORE_MEMORY_STORE_H
#define HAL_CONTROLLER_STORE_MEMORY_STORE_H

#include <atomic>
#include <condition_variable>
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
  /** An empty store; the last `history_limit` changes are kept for watches from a revision
   *  (older ones answer kCompacted: list again). Each keeps a whole object version alive, so the
   *  bound is memory: 10,000 changes is minutes of a steady cluster, seconds of a mass create. */
  explicit MemoryStore(size_t history_limit = 10000);
  ~MemoryStore() override;

  std::optional<StoredObject> get(const StoreKey &key) const override;
  std::vector<StoredObject> list(const std::string &kind, const std::string &ns,
                                 int64_t *revision) const override;
  std::vector<std::shared_ptr<const StoredObject>> commit(std::vector<StoreWrite> writes) override;
  std::unique_ptr<Watch> watch(const WatchFilter &filter, int64_t since_revision) override;
  std::vector<StoredObject> list_after(const std::string &kind, const std::string &ns,
                                       const StoreKey &after, size_t limit, bool *more = nullptr,
                                       int64_t *revision = nullptr) const override;
  int64_t revision() const override;
  uint64_t write_transactions() const override { return transactions_.load(); }
  uint64_t object_writes() const override { return object_writes_.load(); }

 protected:
  /** Persists the changes of one or more validated commits, in revision order, before they
   *  become visible (kDeleted entries carry the removed object); `revision` is the last one.
   *  Called by one committer at a time, without the store's lock. Throwing fails every commit
   *  in the group, and every commit validated after them. */
  virtual void persist(const std::vector<std::shared_ptr<const WatchEvent>> &changes,
                       int64_t revision);

  /** Replaces the content (used by SqliteStore when it opens a file). */
  void load(std::vector<StoredObject> objects, int64_t revision);

  /** Closes every watch (called by destructors). */
  void close_watches();

 private:
  friend class QueueWatch;
  // A validated commit waiting to be persisted and published.
  struct PendingCommit {
    std::vector<std::shared_ptr<const WatchEvent>> changes;
    int64_t revision = 0;
    bool done = false;  ///< Published, or failed with `error`.
    std::exception_ptr error;
  };
  // The latest staged (not yet published) write of a key.
  struct StagedWrite {
    int64_t revision = 0;                        ///< Its commit's revision.
    std::shared_ptr<const StoredObject> object;  ///< nullptr: deleted.
  };
  void unregister(QueueWatch *watch);
  // The object `key` has once every staged commit is published (nullptr: absent).
  const StoredObject *latest(const StoreKey &key) const;
  // Readers see only published objects, so a writer that read one while a newer write of it
  // is staged would be refused, read the same object again and be refused again until that
  // write is published: a busy loop. Commits whose writes expect what is published of a key
  // with a staged write (its version, or for a create its absence) wait here until that write
  // is published (then they are refused as stale, and the writer's next read is current) or
  // fails (then they may succeed).
  void wait_for_staged_writes(std::unique_lock<std::mutex> &lock,
                              const std::vector<StoreWrite> &writes);
  // Persists the waiting commits as one group, then publishes them (or fails them).
  void persist_waiting(std::unique_lock<std::mutex> &lock);
  void publish(PendingCommit &commit);

  // Each change is built once and then shared (immutable) by the object map, the history and
  // every watch queue; callers get copies.
  mutable std::mutex mutex_;
  std::map<StoreKey, std::shared_ptr<const StoredObject>> objects_;
  int64_t revision_ = 0;
  int64_t history_start_ = 0;  ///< Changes after this revision are in history_.
  std::deque<std::shared_ptr<const WatchEvent>> history_;
  size_t history_limit_;
  std::set<QueueWatch *> watches_;
  // Group commit: commits validated but not yet persisted, in revision order.
  int64_t staged_revision_ = 0;             ///< Revision of the last validated commit.
  std::map<StoreKey, StagedWrite> staged_;  ///< Latest staged write per key.
  std::vector<PendingCommit *> waiting_;    ///< Not yet taken by a persisting committer.
  bool persisting_ = false;                 ///< A committer is persisting a group.
  std::condition_variable persisted_;       ///< Signalled after each group.
  std::atomic<uint64_t> transactions_{0};
  std::atomic<uint64_t> object_writes_{0};
};

}  // namespace hal::controller

#endif  // HAL_CONTROLLER_STORE_MEMORY_STORE_H
