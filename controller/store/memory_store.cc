// memory_store.cc - in-memory Store with revision history and queued watches.
#include "controller/store/memory_store.h"

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <limits>

namespace hal::controller {

std::string StoreKey::str() const {
  return ns.empty() ? kind + "/" + name : kind + "/" + ns + "/" + name;
}

const char *watch_type_name(WatchType type) {
  switch (type) {
    case WatchType::kAdded:
      return "ADDED";
    case WatchType::kModified:
      return "MODIFIED";
    case WatchType::kDeleted:
      return "DELETED";
  }
  return "MODIFIED";
}

bool WatchFilter::matches(const StoreKey &key) const {
  return (kind.empty() || kind == key.kind) && (ns.empty() || ns == key.ns) &&
         (name.empty() || name == key.name);
}

StoredObject Store::create(const StoreKey &key, const nlohmann::json &object) {
  return *commit({StoreWrite{StoreWrite::Op::kCreate, key, object, 0, false}}).at(0);
}

StoredObject Store::update(const StoreKey &key, const nlohmann::json &object,
                           int64_t expected_version) {
  return *commit({StoreWrite{StoreWrite::Op::kUpdate, key, object, expected_version, false}}).at(0);
}

StoredObject Store::put(const StoreKey &key, const nlohmann::json &object) {
  return *commit({StoreWrite{StoreWrite::Op::kPut, key, object, 0, false}}).at(0);
}

std::optional<StoredObject> Store::remove(const StoreKey &key, int64_t expected_version) {
  auto result =
      commit({StoreWrite{StoreWrite::Op::kDelete, key, nlohmann::json(), expected_version, true}});
  if (result.empty()) return std::nullopt;
  return *result.front();
}

/** A watch whose events are queued by the store and pulled by the consumer. */
class QueueWatch : public Watch {
 public:
  QueueWatch(MemoryStore *store, WatchFilter filter) : store_(store), filter_(std::move(filter)) {}
  ~QueueWatch() override { cancel(); }

  std::shared_ptr<const WatchEvent> next(std::chrono::milliseconds timeout) override {
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, timeout, [&] { return closed_ || !queue_.empty(); });
    if (queue_.empty()) return nullptr;
    std::shared_ptr<const WatchEvent> event = std::move(queue_.front());
    queue_.pop_front();
    return event;
  }

  void cancel() override {
    MemoryStore *store = nullptr;
    {
      std::lock_guard lock(mutex_);
      store = store_;
      store_ = nullptr;
    }
    if (store != nullptr) store->unregister(this);
    close();
  }

  bool closed() const override {
    std::lock_guard lock(mutex_);
    return closed_ && queue_.empty();
  }

  size_t pending() const override {
    std::lock_guard lock(mutex_);
    return queue_.size();
  }

  /** Queues `event` if it matches; closes the watch when the consumer is too far behind. */
  void offer(const std::shared_ptr<const WatchEvent> &event) {
    if (!filter_.matches(event->object.key)) return;
    std::lock_guard lock(mutex_);
    if (closed_) return;
    if (queue_.size() >= kMaxQueued) {
      closed_ = true;  // Overflow: the consumer must re-list and watch again.
    } else {
      queue_.push_back(event);
    }
    cv_.notify_all();
  }

  /** Marks the watch closed (store shutdown). */
  void close() {
    std::lock_guard lock(mutex_);
    closed_ = true;
    cv_.notify_all();
  }

  /** Forgets the store (store shutdown). */
  void detach() {
    std::lock_guard lock(mutex_);
    store_ = nullptr;
  }

 private:
  static constexpr size_t kMaxQueued = 1000000;
  MemoryStore *store_;
  WatchFilter filter_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<const WatchEvent>> queue_;
  bool closed_ = false;
};

MemoryStore::MemoryStore(size_t history_limit) : history_limit_(history_limit) {}

MemoryStore::~MemoryStore() {
  close_watches();
}

void MemoryStore::close_watches() {
  std::set<QueueWatch *> watches;
  {
    std::lock_guard lock(mutex_);
    watches.swap(watches_);
  }
  for (QueueWatch *watch : watches) {
    watch->detach();
    watch->close();
  }
}

void MemoryStore::unregister(QueueWatch *watch) {
  std::lock_guard lock(mutex_);
  watches_.erase(watch);
}

std::optional<StoredObject> MemoryStore::get(const StoreKey &key) const {
  std::shared_ptr<const StoredObject> found;
  {
    std::lock_guard lock(mutex_);
    auto it = objects_.find(key);
    if (it == objects_.end()) return std::nullopt;
    found = it->second;
  }
  return *found;  // the (deep) copy is made outside the lock: objects are immutable once shared
}

std::vector<StoredObject> MemoryStore::list(const std::string &kind, const std::string &ns,
                                            int64_t *revision) const {
  return list_after(kind, ns, StoreKey{}, std::numeric_limits<size_t>::max(), nullptr, revision);
}

std::vector<StoredObject> MemoryStore::list_after(const std::string &kind, const std::string &ns,
                                                  const StoreKey &after, size_t limit, bool *more,
                                                  int64_t *revision) const {
  std::vector<std::shared_ptr<const StoredObject>> found;
  bool follows = false;
  {
    std::lock_guard lock(mutex_);
    const StoreKey first{kind, ns, ""};
    const bool from_start = after.kind.empty() && after.ns.empty() && after.name.empty();
    auto it = from_start ? objects_.lower_bound(first) : objects_.upper_bound(after);
    if (it != objects_.end() && it->first < first) it = objects_.lower_bound(first);
    for (; it != objects_.end(); ++it) {
      if (!kind.empty() && it->first.kind != kind) break;
      if (!ns.empty() && it->first.ns != ns) {
        if (!kind.empty()) break;  // Sorted by (kind, ns): past the namespace.
        continue;
      }
      if (found.size() == limit) {
        follows = true;
        break;
      }
      found.push_back(it->second);
    }
    if (revision != nullptr) *revision = revision_;
  }
  if (more != nullptr) *more = follows;
  std::vector<StoredObject> result;  // copies made outside the lock
  result.reserve(found.size());
  for (const auto &object : found) result.push_back(*object);
  return result;
}

int64_t MemoryStore::revision() const {
  std::lock_guard lock(mutex_);
  return revision_;
}

void MemoryStore::persist(const std::vector<std::shared_ptr<const WatchEvent>> &, int64_t) {}

void MemoryStore::load(std::vector<StoredObject> objects, int64_t revision) {
  std::lock_guard lock(mutex_);
  objects_.clear();
  for (auto &object : objects) {
    StoreKey key = object.key;
    objects_.emplace(std::move(key), std::make_shared<const StoredObject>(std::move(object)));
  }
  revision_ = staged_revision_ = revision;
  history_start_ = revision;
  history_.clear();
}

const StoredObject *MemoryStore::latest(const StoreKey &key) const {
  if (auto it = staged_.find(key); it != staged_.end()) return it->second.object.get();
  if (auto it = objects_.find(key); it != objects_.end()) return it->second.get();
  return nullptr;
}

void MemoryStore::wait_for_staged_writes(std::unique_lock<std::mutex> &lock,
                                         const std::vector<StoreWrite> &writes) {
  for (;;) {
    int64_t awaited = 0;  // the newest staged commit that supersedes what a write expects
    for (const StoreWrite &write : writes) {
      auto staged = staged_.find(write.key);
      if (staged == staged_.end()) continue;
      auto published = objects_.find(write.key);
      const bool expects_published = published == objects_.end()
                                         ? write.op == StoreWrite::Op::kCreate
                                         : write.expected_version == published->second->version;
      if (expects_published) awaited = std::max(awaited, staged->second.revision);
    }
    if (awaited == 0) return;
    // Published, or failed (then staged_revision_ falls back to revision_).
    while (revision_ < awaited && staged_revision_ >= awaited) {
      if (persisting_) {
        persisted_.wait(lock);
      } else if (!waiting_.empty()) {
        persist_waiting(lock);
      } else {
        return;  // nothing left to wait for (cannot happen: a staged commit waits or persists)
      }
    }
  }
}

std::vector<std::shared_ptr<const StoredObject>> MemoryStore::commit(
    std::vector<StoreWrite> writes) {
  if (writes.empty()) return {};
  std::unique_lock lock(mutex_);
  wait_for_staged_writes(lock, writes);
  PendingCommit pending;
  pending.revision = staged_revision_ + 1;
  // Validate against the latest content (published or staged by earlier commits) plus earlier
  // writes of the same batch (key → its change, or nullptr once deleted in this batch).
  std::map<StoreKey, const StoredObject *> batch;
  auto current = [&](const StoreKey &key) -> const StoredObject * {
    if (auto it = batch.find(key); it != batch.end()) return it->second;
    return latest(key);
  };
  for (StoreWrite &write : writes) {
    if (write.key.kind.empty() || write.key.name.empty()) {
      throw StoreError(StoreErrorCode::kNotFound, "store key needs a kind and a name");
    }
    const StoredObject *existing = current(write.key);
    if (write.expected_version != 0 && existing && existing->version != write.expected_version) {
      throw StoreError(StoreErrorCode::kConflict, write.key.str() + ": resource version " +
                                                      std::to_string(write.expected_version) +
                                                      " is stale (current " +
                                                      std::to_string(existing->version) + ")");
    }
    if (write.op == StoreWrite::Op::kDelete) {
      if (!existing) {
        if (write.ignore_missing) continue;
        throw StoreError(StoreErrorCode::kNotFound, write.key.str() + " not found");
      }
      pending.changes.push_back(std::make_shared<const WatchEvent>(
          WatchEvent{WatchType::kDeleted, *existing, pending.revision}));
      batch[write.key] = nullptr;
      continue;
    }
    if (write.op == StoreWrite::Op::kCreate && existing) {
      throw StoreError(StoreErrorCode::kAlreadyExists, write.key.str() + " already exists");
    }
    if (write.op == StoreWrite::Op::kUpdate && !existing) {
      throw StoreError(StoreErrorCode::kNotFound, write.key.str() + " not found");
    }
    if (write.expected_version != 0 && !existing) {
      throw StoreError(StoreErrorCode::kNotFound, write.key.str() + " not found");
    }
    WatchEvent change{existing ? WatchType::kModified : WatchType::kAdded,
                      StoredObject{write.key, std::move(write.object), pending.revision},
                      pending.revision};
    nlohmann::json &object = change.object.object;
    if (!object.is_object()) object = nlohmann::json::object();
    object["metadata"]["resourceVersion"] = std::to_string(pending.revision);
    pending.changes.push_back(std::make_shared<const WatchEvent>(std::move(change)));
    batch[write.key] = &pending.changes.back()->object;
  }
  if (pending.changes.empty()) return {};
  // Staged: later commits validate against it; readers see it once it is persisted.
  staged_revision_ = pending.revision;
  for (const auto &change : pending.changes) {
    StagedWrite &staged = staged_[change->object.key];
    staged.revision = pending.revision;
    staged.object = change->type == WatchType::kDeleted
                        ? nullptr
                        : std::shared_ptr<const StoredObject>(change, &change->object);
  }
  waiting_.push_back(&pending);
  while (!pending.done) {
    if (persisting_) {
      persisted_.wait(lock);
    } else {
      persist_waiting(lock);
    }
  }
  if (pending.error) std::rethrow_exception(pending.error);
  std::vector<std::shared_ptr<const StoredObject>> result;
  result.reserve(pending.changes.size());
  for (const auto &change : pending.changes) result.emplace_back(change, &change->object);
  return result;
}

void MemoryStore::persist_waiting(std::unique_lock<std::mutex> &lock) {
  persisting_ = true;
  std::vector<PendingCommit *> group;
  group.swap(waiting_);
  std::vector<std::shared_ptr<const WatchEvent>> changes;
  for (const PendingCommit *commit : group)
    changes.insert(changes.end(), commit->changes.begin(), commit->changes.end());
  std::exception_ptr error;
  lock.unlock();
  try {
    persist(changes, group.back()->revision);
  } catch (...) {
    error = std::current_exception();
  }
  lock.lock();
  if (error) {
    // Nothing of the group is stored; commits staged since validated against it: fail them too.
    group.insert(group.end(), waiting_.begin(), waiting_.end());
    waiting_.clear();
    staged_.clear();
    staged_revision_ = revision_;
    for (PendingCommit *commit : group) {
      commit->error = error;
      commit->done = true;
    }
  } else {
    for (PendingCommit *commit : group) publish(*commit);
  }
  persisting_ = false;
  persisted_.notify_all();
}

void MemoryStore::publish(PendingCommit &commit) {
  revision_ = commit.revision;
  for (const auto &change : commit.changes) {
    const StoreKey &key = change->object.key;
    if (change->type == WatchType::kDeleted) {
      objects_.erase(key);
    } else {
      objects_.insert_or_assign(key, std::shared_ptr<const StoredObject>(change, &change->object));
    }
    if (auto it = staged_.find(key); it != staged_.end() && it->second.revision == commit.revision)
      staged_.erase(it);
    for (QueueWatch *watch : watches_) watch->offer(change);
    history_.push_back(change);
  }
  while (history_.size() > history_limit_) {
    history_start_ = history_.front()->revision;
    history_.pop_front();
  }
  transactions_.fetch_add(1);
  object_writes_.fetch_add(commit.changes.size());
  commit.done = true;
}

std::unique_ptr<Watch> MemoryStore::watch(const WatchFilter &filter, int64_t since_revision) {
  auto watch = std::make_unique<QueueWatch>(this, filter);
  std::lock_guard lock(mutex_);
  if (since_revision == 0) {
    for (const auto &[key, object] : objects_) {
      if (!filter.matches(key)) continue;
      watch->offer(std::make_shared<const WatchEvent>(
          WatchEvent{WatchType::kAdded, *object, object->version}));
    }
  } else {
    if (since_revision < history_start_) {
      throw StoreError(StoreErrorCode::kCompacted,
                       "revision " + std::to_string(since_revision) +
                           " is older than the retained history (from " +
                           std::to_string(history_start_) + "); list and watch again");
    }
    for (const auto &event : history_) {
      if (event->revision > since_revision) watch->offer(event);
    }
  }
  watches_.insert(watch.get());
  return watch;
}

}  // namespace hal::controller
