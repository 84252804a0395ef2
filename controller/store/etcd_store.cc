// etcd_store.cc - Store operations as etcd reads, transactions and watches (see etcd_store.h).
#include "controller/store/etcd_store.h"

#include <algorithm>
#include <stdexcept>
#include <thread>

#include "controller/store/etcd_layout.h"
#include "controller/store/etcd_txn.h"
#include "controller/store/etcd_watch.h"
#include "core/log/log.h"

namespace hal::controller {
namespace {

using Clock = std::chrono::steady_clock;

// Objects of `response` in key order, keeping those in `ns` (every namespace when empty); keys
// that are not KIND/NAMESPACE/NAME (not HAL objects) are skipped.
std::vector<StoredObject> objects_of(const std::string &prefix,
                                     const etcdserverpb::RangeResponse &response,
                                     const std::string &ns) {
  std::vector<StoredObject> objects;
  objects.reserve(static_cast<size_t>(response.kvs_size()));
  for (const auto &kv : response.kvs()) {
    auto key = etcd::decode_key(prefix, kv.key());
    if (!key || (!ns.empty() && key->ns != ns)) continue;
    objects.push_back(etcd::decode_object(prefix, kv));
  }
  // etcd orders by key bytes; the Store orders by (kind, namespace, name).
  std::sort(objects.begin(), objects.end(),
            [](const StoredObject &a, const StoredObject &b) { return a.key < b.key; });
  return objects;
}

// A read of `range`.
etcdserverpb::RangeRequest range_request(const etcd::KeyRange &range) {
  etcdserverpb::RangeRequest request;
  request.set_key(range.key);
  request.set_range_end(range.end);
  return request;
}

// True when a write of the batch may need a second plan (etcd_txn.h: known_absent).
bool may_replan(const std::vector<StoreWrite> &writes) {
  return std::any_of(writes.begin(), writes.end(), [](const StoreWrite &write) {
    return write.op == StoreWrite::Op::kDelete && write.ignore_missing &&
           write.expected_version != 0;
  });
}

}  // namespace

EtcdStoreOptions parse_etcd_url(const std::string &url) {
  const std::string scheme = "etcd://";
  if (url.rfind(scheme, 0) != 0) throw std::invalid_argument("not an etcd:// URL: " + url);
  std::string rest = url.substr(scheme.size());
  EtcdStoreOptions options;
  if (const size_t slash = rest.find('/'); slash != std::string::npos) {
    std::string prefix = rest.substr(slash);
    rest.resize(slash);
    while (prefix.size() > 1 && prefix.back() == '/') prefix.pop_back();
    if (prefix.size() > 1) options.prefix = prefix + "/";
  }
  size_t start = 0;
  for (;;) {
    const size_t comma = rest.find(',', start);
    std::string endpoint =
        rest.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    const size_t colon = endpoint.rfind(':');
    if (endpoint.empty() || colon == std::string::npos || colon == 0 ||
        colon + 1 == endpoint.size() ||
        endpoint.find_first_not_of("0123456789", colon + 1) != std::string::npos)
      throw std::invalid_argument("etcd endpoint \"" + endpoint + "\" in " + url +
                                  " is not HOST:PORT");
    options.client.endpoints.push_back(std::move(endpoint));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return options;
}

EtcdStore::EtcdStore(EtcdStoreOptions options)
    : options_(std::move(options)),
      client_(std::make_shared<etcd::Client>(options_.client)),
      watches_(std::make_shared<etcd::WatchSet>()) {
  if (options_.prefix.empty() || options_.prefix.front() != '/' || options_.prefix.back() != '/')
    throw StoreError(StoreErrorCode::kIo,
                     "etcd store prefix \"" + options_.prefix + "\" must start and end with '/'");
  const int64_t at = revision();
  hal::log("store")->info("etcd store on {} under {} at revision {}", client_->endpoints(),
                          options_.prefix, at);
}

EtcdStore::~EtcdStore() {
  std::lock_guard lock(watches_->mutex);
  watches_->closed = true;
  for (etcd::EtcdWatch *watch : watches_->live) watch->cancel();
}

std::optional<StoredObject> EtcdStore::get(const StoreKey &key) const {
  etcdserverpb::RangeRequest request;
  request.set_key(etcd::encode_key(options_.prefix, key));
  auto response = client_->range(request);
  if (response.kvs_size() == 0) return std::nullopt;
  return etcd::decode_object(options_.prefix, response.kvs(0));
}

std::vector<StoredObject> EtcdStore::list(const std::string &kind, const std::string &ns,
                                          int64_t *revision) const {
  auto response = client_->range(range_request(etcd::range_of(options_.prefix, kind, ns)));
  if (revision != nullptr) *revision = etcd::store_revision(response.header().revision());
  return objects_of(options_.prefix, response, ns);
}

int64_t EtcdStore::revision() const {
  // Any read answers with the cluster's revision; one key (the prefix itself, never an object)
  // costs etcd nothing, where counting the objects would walk them all.
  etcdserverpb::RangeRequest request;
  request.set_key(options_.prefix);
  request.set_count_only(true);
  return etcd::store_revision(client_->range(request).header().revision());
}

std::vector<std::shared_ptr<const StoredObject>> EtcdStore::commit(std::vector<StoreWrite> writes) {
  if (writes.empty()) return {};
  std::vector<StoreWrite> original;
  if (may_replan(writes)) original = writes;
  auto plan = this->plan(std::move(writes), {});
  const auto deadline = Clock::now() + options_.client.retry_budget;
  auto done = [&](std::vector<std::shared_ptr<const StoredObject>> written) {
    if (!written.empty()) {
      transactions_.fetch_add(1);
      object_writes_.fetch_add(written.size());
    }
    return written;
  };
  for (int replans = 0;;) {
    try {
      auto response = client_->txn(plan->request());
      if (response.succeeded()) return done(plan->results(response));
      std::set<StoreKey> absent = plan->explain_failure(response);  // throws the write's error
      if (original.empty() || ++replans > 3)
        throw StoreError(StoreErrorCode::kConflict,
                         "etcd transaction refused again and again (keys changing meanwhile)");
      plan = this->plan(original, absent);
    } catch (const etcd::EtcdAmbiguousError &e) {
      if (Clock::now() >= deadline) throw;
      hal::log("store")->warn("{}; checking whether it was applied", e.what());
      if (auto check = plan->check_request()) {
        try {
          if (auto at = plan->applied_at(client_->txn(*check))) return done(plan->results_at(*at));
        } catch (const etcd::EtcdAmbiguousError &) {
          // the read failed too: try again below
        }
      }
      // Not applied, or unknown: send it again (its compares refuse it if it was applied).
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
}

std::unique_ptr<etcd::TxnPlan> EtcdStore::plan(std::vector<StoreWrite> writes,
                                               const std::set<StoreKey> &known_absent) const {
  auto plan = std::make_unique<etcd::TxnPlan>(options_.prefix, std::move(writes), known_absent);
  std::lock_guard lock(guard_mutex_);
  if (guard_) plan->require_created_at(guard_->key, guard_->create_revision, guard_->what);
  return plan;
}

void EtcdStore::set_write_guard(std::optional<WriteGuard> guard) {
  std::lock_guard lock(guard_mutex_);
  guard_ = std::move(guard);
}

std::unique_ptr<Watch> EtcdStore::watch(const WatchFilter &filter, int64_t since_revision) {
  const etcd::KeyRange range = etcd::range_of(options_.prefix, filter);
  std::vector<std::shared_ptr<const WatchEvent>> initial;
  int64_t start = 0;  // etcd revision of the first change to deliver
  if (since_revision == 0) {
    auto response = client_->range(range_request(range));
    for (StoredObject &object : objects_of(options_.prefix, response, filter.ns)) {
      if (!filter.matches(object.key)) continue;
      const int64_t version = object.version;
      initial.push_back(std::make_shared<const WatchEvent>(
          WatchEvent{WatchType::kAdded, std::move(object), version}));
    }
    start = response.header().revision() + 1;
  } else {
    // Is the history after since_revision still there? A read at that revision fails when it
    // was compacted (and is refused as "future" when it is not written yet: then it is there).
    etcdserverpb::RangeRequest probe = range_request(range);
    probe.set_revision(etcd::etcd_revision(since_revision));
    probe.set_count_only(true);
    try {
      client_->range(probe);
    } catch (const StoreError &e) {
      if (e.code() == StoreErrorCode::kCompacted)
        throw StoreError(StoreErrorCode::kCompacted,
                         "revision " + std::to_string(since_revision) +
                             " is older than the history etcd keeps; list and watch again");
      if (std::string(e.what()).find("future revision") == std::string::npos) throw;
    }
    start = etcd::etcd_revision(since_revision) + 1;
  }
  return std::make_unique<etcd::EtcdWatch>(client_, options_.prefix, filter, range, start,
                                           std::move(initial), watches_);
}

void EtcdStore::compact(int64_t revision) {
  client_->compact(etcd::etcd_revision(revision));
}

}  // namespace hal::controller
