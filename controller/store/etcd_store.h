// etcd_store.h - the Store on an etcd cluster (etcd's v3 gRPC API), for a control plane that
// outgrows one machine or must survive the loss of one. Same semantics as the SQLite store:
// every object is one etcd key (etcd_layout.h), a store revision is etcd's revision minus one
// (global, monotonic, shared by every object written in one transaction), commit() is one etcd
// transaction whose compares on mod_revision give optimistic concurrency (etcd_txn.h), list() is
// one range read, and a watch is an etcd watch from a revision, resumed across reconnects
// (etcd_watch.h). History is etcd's: a watch from a revision etcd compacted fails with
// kCompacted. Nothing is cached, so several stores (controllers) may share one cluster.
#ifndef HAL_CONTROLLER_STORE_ETCD_STORE_H
#define HAL_CONTROLLER_STORE_ETCD_STORE_H

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "controller/store/etcd_client.h"
#include "controller/store/store.h"

namespace hal::controller {

namespace etcd {
struct WatchSet;
class TxnPlan;
}  // namespace etcd

/** Where an etcd store lives. */
struct EtcdStoreOptions {
  etcd::ClientOptions client;    ///< Members, TLS and timeouts.
  std::string prefix = "/hal/";  ///< Key prefix of every object; starts and ends with '/'.
};

/** Options from "etcd://HOST:PORT[,HOST:PORT...][/PREFIX]" (PREFIX defaults to "hal": keys
 *  under /hal/). Throws std::invalid_argument naming what is wrong. */
EtcdStoreOptions parse_etcd_url(const std::string &url);

/** A condition on every write of an EtcdStore: etcd key `key` exists and was created at etcd
 *  revision `create_revision`. A leader holds its election key on its lease; guarding its
 *  writes with it means a deposed leader's late writes fail instead of landing. */
struct WriteGuard {
  std::string key;              ///< The etcd key (outside the objects' prefix).
  int64_t create_revision = 0;  ///< Its creation revision (etcd's, not the store's).
  std::string what;             ///< Names the condition in errors ("leadership of ...").
};

/** Store on etcd. Thread-safe. */
class EtcdStore : public Store {
 public:
  /** Connects and reads the current revision. Throws StoreError(kIo) when no member answers
   *  within the retry budget or a TLS file cannot be used. */
  explicit EtcdStore(EtcdStoreOptions options);
  /** Closes every watch it started. */
  ~EtcdStore() override;
  EtcdStore(const EtcdStore &) = delete;
  EtcdStore &operator=(const EtcdStore &) = delete;

  std::optional<StoredObject> get(const StoreKey &key) const override;
  std::vector<StoredObject> list(const std::string &kind, const std::string &ns,
                                 int64_t *revision) const override;
  /** One etcd transaction. When the member fails after the transaction was sent, reads its
   *  keys (on another member) to learn whether it was applied, and sends it again when it was
   *  not (its compares keep that safe); throws StoreError(kIo) once the retry budget is spent. */
  std::vector<std::shared_ptr<const StoredObject>> commit(std::vector<StoreWrite> writes) override;
  std::unique_ptr<Watch> watch(const WatchFilter &filter, int64_t since_revision) override;
  /** etcd's current revision (one read), as a store revision. */
  int64_t revision() const override;
  uint64_t write_transactions() const override { return transactions_.load(); }
  uint64_t object_writes() const override { return object_writes_.load(); }

  /** Drops etcd's history before store revision `revision` (etcd keeps every revision until
   *  compacted: run it with --auto-compaction-mode/--auto-compaction-retention, or call this).
   *  A later watch from a revision before it fails with kCompacted. Throws StoreError. */
  void compact(int64_t revision);

  /** Conditions every later commit() on `guard` (none: unconditional). A commit whose guard
   *  no longer holds throws StoreError(kConflict) starting with guard.what and writes nothing. */
  void set_write_guard(std::optional<WriteGuard> guard);

  /** The options it was opened with. */
  const EtcdStoreOptions &options() const { return options_; }

 private:
  // The plan of `writes` with the write guard (if any) added.
  std::unique_ptr<etcd::TxnPlan> plan(std::vector<StoreWrite> writes,
                                      const std::set<StoreKey> &known_absent) const;

  EtcdStoreOptions options_;
  std::shared_ptr<etcd::Client> client_;
  std::shared_ptr<etcd::WatchSet> watches_;
  mutable std::mutex guard_mutex_;
  std::optional<WriteGuard> guard_;  ///< Guarded by guard_mutex_.
  std::atomic<uint64_t> transactions_{0};
  std::atomic<uint64_t> object_writes_{0};
};

}  // namespace hal::controller

#endif  // HAL_CONTROLLER_STORE_ETCD_STORE_H
