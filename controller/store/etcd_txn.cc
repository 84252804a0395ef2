// etcd_txn.cc - a commit's writes as one etcd transaction (see etcd_txn.h).
#include "controller/store/etcd_txn.h"

#include <map>

#include "controller/store/etcd_layout.h"

namespace hal::controller::etcd {
namespace {

using etcdserverpb::Compare;

// A compare of `key`'s version (writes since creation; 0 = absent) with `value`.
Compare version_is(const std::string &key, Compare::CompareResult result, int64_t value) {
  Compare compare;
  compare.set_key(key);
  compare.set_target(Compare::VERSION);
  compare.set_result(result);
  compare.set_version(value);
  return compare;
}

// A compare that `key` was last written at store revision `revision`.
Compare written_at(const std::string &key, int64_t revision) {
  Compare compare;
  compare.set_key(key);
  compare.set_target(Compare::MOD);
  compare.set_result(Compare::EQUAL);
  compare.set_mod_revision(etcd_revision(revision));
  return compare;
}

StoreError conflict(const StoreKey &key, int64_t expected, const std::string &current) {
  return StoreError(StoreErrorCode::kConflict, key.str() + ": resource version " +
                                                   std::to_string(expected) +
                                                   " is stale (current " + current + ")");
}

StoreError not_found(const StoreKey &key) {
  return StoreError(StoreErrorCode::kNotFound, key.str() + " not found");
}

StoreError already_exists(const StoreKey &key) {
  return StoreError(StoreErrorCode::kAlreadyExists, key.str() + " already exists");
}

}  // namespace

void TxnPlan::plan_first(KeyPlan &plan, const StoreWrite &write, bool known_absent) {
  auto *compares = request_.mutable_compare();
  const std::string &key = plan.etcd_key;
  // One compare per key (etcd limits compares like ops): an expected version implies presence.
  switch (write.op) {
    case StoreWrite::Op::kCreate:
      *compares->Add() = version_is(key, Compare::EQUAL, 0);
      plan.initially_absent = true;
      break;
    case StoreWrite::Op::kUpdate:
      *compares->Add() = write.expected_version != 0 ? written_at(key, write.expected_version)
                                                     : version_is(key, Compare::GREATER, 0);
      break;
    case StoreWrite::Op::kPut:
      if (write.expected_version != 0) *compares->Add() = written_at(key, write.expected_version);
      break;
    case StoreWrite::Op::kDelete:
      if (known_absent && write.ignore_missing) {
        *compares->Add() = version_is(key, Compare::EQUAL, 0);
        plan.initially_absent = true;
      } else if (write.expected_version != 0) {
        *compares->Add() = written_at(key, write.expected_version);
      } else if (!write.ignore_missing) {
        *compares->Add() = version_is(key, Compare::GREATER, 0);
      }
      break;
  }
}

TxnPlan::TxnPlan(const std::string &prefix, std::vector<StoreWrite> writes,
                 const std::set<StoreKey> &known_absent)
    : prefix_(prefix), writes_(std::move(writes)) {
  std::map<StoreKey, size_t> index;
  for (size_t i = 0; i < writes_.size(); ++i) {
    StoreWrite &write = writes_[i];
    if (write.key.kind.empty() || write.key.name.empty())
      throw StoreError(StoreErrorCode::kNotFound, "store key needs a kind and a name");
    auto [found, fresh] = index.emplace(write.key, keys_.size());
    if (fresh) {
      KeyPlan plan;
      plan.key = write.key;
      plan.etcd_key = encode_key(prefix_, write.key);
      plan.first_write = i;
      keys_.push_back(std::move(plan));
    }
    write_key_.push_back(found->second);
    KeyPlan &plan = keys_[found->second];
    if (fresh) {
      plan_first(plan, write, known_absent.count(write.key) > 0);
    } else {
      // The key's state is known from the batch's earlier writes: check as the memory store.
      if (write.expected_version != 0 && plan.exists)
        throw conflict(write.key, write.expected_version, "written earlier in this transaction");
      if (write.op != StoreWrite::Op::kDelete) {
        if (write.op == StoreWrite::Op::kCreate && plan.exists) throw already_exists(write.key);
        if ((write.op == StoreWrite::Op::kUpdate || write.expected_version != 0) && !plan.exists)
          throw not_found(write.key);
      }
    }
    if (write.op == StoreWrite::Op::kDelete) {
      if (fresh) {
        // As it was before the transaction: etcd's previous value (none when it was absent).
        if (!plan.initially_absent) {
          plan.prev = true;
          results_.push_back(Result{Result::Source::kInitial, found->second, nullptr});
        }
      } else if (plan.exists) {
        results_.push_back(Result{Result::Source::kWritten, found->second, plan.last});
      } else if (!write.ignore_missing) {
        throw not_found(write.key);
      }
      plan.exists = false;
      plan.last.reset();
      continue;
    }
    plan.exists = true;
    plan.last = std::make_shared<StoredObject>(StoredObject{write.key, std::move(write.object), 0});
    plan.value = encode_value(plan.last->object);
    results_.push_back(Result{Result::Source::kWritten, found->second, plan.last});
  }
  // One op per key (etcd refuses a key written twice in one transaction); the failure branch
  // reads every key to tell why the compares failed.
  for (KeyPlan &plan : keys_) {
    plan.put = plan.exists;
    plan.has_op = plan.exists || !plan.initially_absent;
    if (plan.has_op) {
      plan.op = static_cast<size_t>(request_.success_size());
      auto *op = request_.add_success();
      if (plan.put) {
        auto *put = op->mutable_request_put();
        put->set_key(plan.etcd_key);
        put->set_value(plan.value);
        put->set_prev_kv(plan.prev);
      } else {
        auto *remove = op->mutable_request_delete_range();
        remove->set_key(plan.etcd_key);
        remove->set_prev_kv(plan.prev);
      }
    }
    auto *read = request_.add_failure()->mutable_request_range();
    read->set_key(plan.etcd_key);
    read->set_keys_only(true);
  }
}

void TxnPlan::require_created_at(const std::string &etcd_key, int64_t create_revision,
                                 const std::string &what) {
  Compare compare;
  compare.set_key(etcd_key);
  compare.set_target(Compare::CREATE);
  compare.set_result(Compare::EQUAL);
  compare.set_create_revision(create_revision);
  *request_.add_compare() = compare;
  auto *read = request_.add_failure()->mutable_request_range();
  read->set_key(etcd_key);
  read->set_keys_only(true);
  requirements_.push_back(Requirement{etcd_key, create_revision, what});
}

std::vector<std::shared_ptr<const StoredObject>> TxnPlan::finish(
    int64_t etcd_rev, const etcdserverpb::TxnResponse *response) const {
  std::vector<std::shared_ptr<const StoredObject>> out;
  out.reserve(results_.size());
  for (const Result &result : results_) {
    if (result.source == Result::Source::kWritten) {
      set_version(*result.object, store_revision(etcd_rev));
      out.push_back(result.object);
      continue;
    }
    const KeyPlan &plan = keys_[result.key];
    if (response == nullptr || !plan.has_op ||
        static_cast<int>(plan.op) >= response->responses_size())
      continue;
    const auto &op = response->responses(static_cast<int>(plan.op));
    const etcdserverpb::KeyValue *before = nullptr;
    if (plan.put && op.response_put().has_prev_kv() &&
        op.response_put().prev_kv().create_revision() > 0)
      before = &op.response_put().prev_kv();
    if (!plan.put && op.response_delete_range().prev_kvs_size() > 0)
      before = &op.response_delete_range().prev_kvs(0);
    if (before == nullptr) continue;  // it was absent: a delete that ignores a missing key
    out.push_back(std::make_shared<const StoredObject>(decode_object(prefix_, *before)));
  }
  return out;
}

std::vector<std::shared_ptr<const StoredObject>> TxnPlan::results(
    const etcdserverpb::TxnResponse &response) const {
  return finish(response.header().revision(), &response);
}

std::vector<std::shared_ptr<const StoredObject>> TxnPlan::results_at(int64_t etcd_rev) const {
  return finish(etcd_rev, nullptr);
}

std::set<StoreKey> TxnPlan::explain_failure(const etcdserverpb::TxnResponse &response) const {
  for (size_t r = 0; r < requirements_.size(); ++r) {
    const int at = static_cast<int>(keys_.size() + r);
    if (at >= response.responses_size()) break;
    const auto &read = response.responses(at).response_range();
    const int64_t created = read.kvs_size() > 0 ? read.kvs(0).create_revision() : 0;
    if (created != requirements_[r].create_revision)
      throw StoreError(
          StoreErrorCode::kConflict,
          requirements_[r].what + ": etcd key " + requirements_[r].etcd_key +
              (created == 0 ? " is gone"
                            : " was created again (revision " + std::to_string(created) + ")") +
              "; nothing was written");
  }
  // Each key's state: present, and its store revision (-1: written earlier in this batch).
  std::vector<std::pair<bool, int64_t>> state(keys_.size(), {false, 0});
  for (size_t k = 0; k < keys_.size() && static_cast<int>(k) < response.responses_size(); ++k) {
    const auto &read = response.responses(static_cast<int>(k)).response_range();
    if (read.kvs_size() > 0) state[k] = {true, store_revision(read.kvs(0).mod_revision())};
  }
  std::set<StoreKey> absent;
  for (size_t i = 0; i < writes_.size(); ++i) {
    const StoreWrite &write = writes_[i];
    auto &[exists, version] = state[write_key_[i]];
    if (write.expected_version != 0 && exists && version != write.expected_version)
      throw conflict(write.key, write.expected_version,
                     version < 0 ? "written earlier in this transaction" : std::to_string(version));
    if (write.op == StoreWrite::Op::kDelete) {
      if (!exists) {
        if (!write.ignore_missing) throw not_found(write.key);
        if (keys_[write_key_[i]].first_write == i && write.expected_version != 0)
          absent.insert(write.key);
        continue;
      }
      exists = false;
      continue;
    }
    if (write.op == StoreWrite::Op::kCreate && exists) throw already_exists(write.key);
    if ((write.op == StoreWrite::Op::kUpdate || write.expected_version != 0) && !exists)
      throw not_found(write.key);
    exists = true;
    version = -1;
  }
  if (absent.empty())
    throw StoreError(StoreErrorCode::kConflict,
                     "etcd refused a transaction that its keys' current values allow");
  return absent;
}

std::optional<etcdserverpb::TxnRequest> TxnPlan::check_request() const {
  bool any_put = false;
  for (const KeyPlan &plan : keys_) {
    if (plan.prev) return std::nullopt;  // the objects as they were are gone once applied
    any_put |= plan.put;
  }
  if (!any_put) return std::nullopt;
  etcdserverpb::TxnRequest request;
  for (const KeyPlan &plan : keys_) {
    if (!plan.has_op) continue;
    request.add_success()->mutable_request_range()->set_key(plan.etcd_key);
  }
  return request;
}

std::optional<int64_t> TxnPlan::applied_at(const etcdserverpb::TxnResponse &response) const {
  std::optional<int64_t> revision;
  int read = 0;
  for (const KeyPlan &plan : keys_) {
    if (!plan.has_op) continue;
    if (read >= response.responses_size()) return std::nullopt;
    const auto &kvs = response.responses(read++).response_range().kvs();
    if (!plan.put) {
      if (!kvs.empty()) return std::nullopt;
      continue;
    }
    if (kvs.size() != 1 || kvs[0].value() != plan.value) return std::nullopt;
    if (revision && *revision != kvs[0].mod_revision()) return std::nullopt;
    revision = kvs[0].mod_revision();
  }
  return revision;
}

}  // namespace hal::controller::etcd
