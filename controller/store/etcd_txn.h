// etcd_txn.h - one Store::commit() as one etcd transaction. Each key's first write in the batch
// becomes compares on what etcd holds (create: version == 0; update/delete: version > 0; an
// expected resource version: mod_revision == it + 1); later writes of the same key are checked
// here against the batch itself; each key gets one put or delete (etcd refuses two writes of a
// key in one transaction). The failure branch reads every key, so a refused transaction tells
// which write failed and why, as the memory store would have said it.
#ifndef HAL_CONTROLLER_STORE_ETCD_TXN_H
#define HAL_CONTROLLER_STORE_ETCD_TXN_H

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "controller/store/etcd_rpc.pb.h"
#include "controller/store/store.h"

namespace hal::controller::etcd {

/** A commit's writes as an etcd transaction, and how to read its answer. */
class TxnPlan {
 public:
  /** Plans `writes` under `prefix`. `known_absent`: keys an earlier attempt found absent whose
   *  first write is a delete that ignores a missing key but checks a version (etcd compares are
   *  a conjunction, so "absent or at version V" takes two attempts). Throws StoreError for
   *  writes that the batch itself makes fail (kAlreadyExists, kNotFound, kConflict) and for a
   *  key without kind or name. */
  TxnPlan(const std::string &prefix, std::vector<StoreWrite> writes,
          const std::set<StoreKey> &known_absent = {});

  /** Makes the transaction also require that etcd key `etcd_key` exists with creation
   *  revision `create_revision` (writes conditioned on holding a lease-bound key, such as a
   *  leader's); explain_failure() then throws StoreError(kConflict) starting with `what` when
   *  that is what failed. */
  void require_created_at(const std::string &etcd_key, int64_t create_revision,
                          const std::string &what);

  /** The transaction to send. */
  const etcdserverpb::TxnRequest &request() const { return request_; }

  /** commit()'s result for a transaction that succeeded: the written objects in write order
   *  (deleted ones as they were), at the response's revision. Call once (objects are shared). */
  std::vector<std::shared_ptr<const StoredObject>> results(
      const etcdserverpb::TxnResponse &response) const;

  /** For a transaction that failed: throws the StoreError of the first write that etcd's
   *  current values (the failure branch's reads) make fail; when none does, returns the keys to
   *  plan the next attempt with as known_absent (see the constructor). */
  std::set<StoreKey> explain_failure(const etcdserverpb::TxnResponse &response) const;

  /** A transaction reading every key this plan writes, to learn whether it was applied after
   *  an ambiguous failure; nullopt when applied_at() could not tell (the plan has no put, or
   *  must return objects as they were before a delete). */
  std::optional<etcdserverpb::TxnRequest> check_request() const;

  /** From check_request()'s answer: the etcd revision at which this plan's transaction was
   *  applied (every put key holds this plan's value, all from one revision, and every deleted
   *  key is absent), or nullopt. */
  std::optional<int64_t> applied_at(const etcdserverpb::TxnResponse &response) const;

  /** commit()'s result when applied_at() found the transaction applied at `etcd_rev`. */
  std::vector<std::shared_ptr<const StoredObject>> results_at(int64_t etcd_rev) const;

 private:
  // One key the batch writes.
  struct KeyPlan {
    StoreKey key;
    std::string etcd_key;
    size_t first_write = 0;              ///< Index of its first write.
    bool exists = false;                 ///< After the writes so far.
    bool put = false;                    ///< The net write: put `value`, else delete.
    std::string value;                   ///< The put's value.
    bool prev = false;                   ///< The op asks for the value before the transaction.
    bool has_op = false;                 ///< False: nothing to write (known absent, stays absent).
    size_t op = 0;                       ///< Index of its op in success.
    bool initially_absent = false;       ///< Its first write's compare says it is absent.
    std::shared_ptr<StoredObject> last;  ///< Its last written object (while exists).
  };
  // What commit() returns for one write.
  struct Result {
    enum class Source { kWritten, kInitial } source = Source::kWritten;
    size_t key = 0;                        ///< Index in keys_.
    std::shared_ptr<StoredObject> object;  ///< kWritten: the object (version set at the end).
  };
  void plan_first(KeyPlan &plan, const StoreWrite &write, bool known_absent);
  std::vector<std::shared_ptr<const StoredObject>> finish(
      int64_t etcd_rev, const etcdserverpb::TxnResponse *response) const;

  // A key the transaction requires (require_created_at); its read follows the keys' reads.
  struct Requirement {
    std::string etcd_key;
    int64_t create_revision = 0;
    std::string what;
  };

  std::string prefix_;
  std::vector<Requirement> requirements_;
  std::vector<StoreWrite> writes_;  ///< Their objects moved into results_.
  std::vector<size_t> write_key_;   ///< Index in keys_ of each write's key.
  std::vector<KeyPlan> keys_;
  std::vector<Result> results_;
  etcdserverpb::TxnRequest request_;
};

}  // namespace hal::controller::etcd

#endif  // HAL_CONTROLLER_STORE_ETCD_TXN_H
