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
#include <string>

#include "controller/store/etcd_client.h"
#include "controller/store/store.h"

namespace hal::controller {

namespace etcd {
struct WatchSet;
}

/** Where an etcd store lives. */
struct EtcdStoreOptions {
  etcd::ClientOptions client;    ///< Members, TLS and timeouts.
  std::string prefix = "/hal/";  ///< Key prefix of every object; starts and ends with '/'.
};

/** Options from "etcd://HOST:PORT[,HOST:PORT...][/PREFIX]" (PREFIX defaults to "hal": keys
 *  under /hal/). Throws std::invalid_argument naming what is wrong. */
EtcdStoreOptions parse_etcd_url(const std::string &url);

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

  /** The options it was opened with. */
  const EtcdStoreOptions &options() const { return options_; }

 private:
  EtcdStoreOptions options_;
  std::shared_ptr<etcd::Client> client_;
  std::shared_ptr<etcd::WatchSet> watches_;
  std::atomic<uint64_t> transactions_{0};
  std::atomic<uint64_t> object_writes_{0};
};

}  // namespace hal::controller

#endif  // HAL_CONTROLLER_STORE_ETCD_STORE_H
