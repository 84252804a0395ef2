// store.h - the controller's object store interface: versioned JSON objects keyed by
// kind/namespace/name, optimistic concurrency on resource versions, a global monotonic revision,
// multi-object transactions and watches from a revision (ADDED/MODIFIED/DELETED).
#ifndef HAL_CONTROLLER_STORE_STORE_H
#define HAL_CONTROLLER_STORE_STORE_H

#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace hal::controller {

/** Identifies one stored object. Cluster-scoped kinds use an empty namespace. */
struct StoreKey {
  std::string kind;  ///< Canonical kind ("VirtualMachine", "Node", ...).
  std::string ns;    ///< Namespace; empty for cluster-scoped kinds.
  std::string name;  ///< Object name.
  /** Orders keys by kind, namespace, name. */
  auto operator<=>(const StoreKey &) const = default;
  /** "kind/ns/name" (or "kind/name" without a namespace), for messages and queue keys. */
  std::string str() const;
};

/** One object as stored: the whole document plus the revision of its last write. */
struct StoredObject {
  StoreKey key;           ///< Where it is stored.
  nlohmann::json object;  ///< The document; metadata.resourceVersion mirrors `version`.
  int64_t version = 0;    ///< Store revision of the object's last write.
};

/** Why a store operation failed. */
enum class StoreErrorCode {
  kNotFound,       ///< The object does not exist.
  kAlreadyExists,  ///< create() of an existing key.
  kConflict,       ///< The expected resource version is not the current one.
  kCompacted,      ///< watch() from a revision older than the retained history.
  kCorrupt,        ///< The backing file is damaged or is not a HAL controller store.
  kIo,             ///< The backing storage failed.
};

/** Error thrown by Store operations. */
class StoreError : public std::runtime_error {
 public:
  /** Builds an error with its code and a message naming the object or file. */
  StoreError(StoreErrorCode code, const std::string &message)
      : std::runtime_error(message), code_(code) {}
  /** The failure class. */
  StoreErrorCode code() const noexcept { return code_; }

 private:
  StoreErrorCode code_;
};

/** One write inside a transaction. */
struct StoreWrite {
  /** What the write does. */
  enum class Op {
    kCreate,  ///< Fails with kAlreadyExists if present.
    kUpdate,  ///< Fails with kNotFound if absent, kConflict if expected_version mismatches.
    kPut,     ///< Create or update (expected_version still checked when non-zero).
    kDelete,  ///< Fails with kNotFound if absent (unless ignore_missing), kConflict likewise.
  };
  Op op = Op::kPut;              ///< The operation.
  StoreKey key;                  ///< The object.
  nlohmann::json object;         ///< New document (create/update/put).
  int64_t expected_version = 0;  ///< 0 = unconditional; else must equal the current version.
  bool ignore_missing = false;   ///< kDelete of an absent key is a no-op.
};

/** Type of a watch event. */
enum class WatchType { kAdded, kModified, kDeleted };

/** "ADDED", "MODIFIED" or "DELETED". */
const char *watch_type_name(WatchType type);

/** One change seen by a watch. */
struct WatchEvent {
  WatchType type = WatchType::kAdded;  ///< What happened.
  StoredObject object;                 ///< The object after the change (before, for DELETED).
  int64_t revision = 0;                ///< Store revision of the change.
};

/** Which changes a watch delivers. Empty fields match everything. */
struct WatchFilter {
  std::string kind;  ///< Kind, or empty for every kind.
  std::string ns;    ///< Namespace, or empty for all.
  std::string name;  ///< Name, or empty for all.
  /** True when `key` passes the filter. */
  bool matches(const StoreKey &key) const;
};

/** A live watch: events arrive in revision order; next() blocks until one does. */
class Watch {
 public:
  virtual ~Watch() = default;
  /** Waits up to `timeout` for the next event; null on timeout or once cancelled/closed. The
   *  event is shared with the store's history and the other watches, not copied. */
  virtual std::shared_ptr<const WatchEvent> next(std::chrono::milliseconds timeout) = 0;
  /** Stops the watch; a blocked next() returns null. */
  virtual void cancel() = 0;
  /** Events that next() would return without waiting. */
  virtual size_t pending() const = 0;
  /** True after cancel(), store shutdown or an overflow (the consumer fell too far behind). */
  virtual bool closed() const = 0;
};

/** The store interface shared by the in-memory, SQLite and etcd implementations. Thread-safe. */
class Store {
 public:
  virtual ~Store() = default;

  /** The object at `key`, or nullopt. */
  virtual std::optional<StoredObject> get(const StoreKey &key) const = 0;

  /** Objects of `kind` (every kind when empty) in `ns` (every namespace when empty), ordered by
   *  key; `revision` (optional) receives the revision the list was read at. */
  virtual std::vector<StoredObject> list(const std::string &kind, const std::string &ns,
                                         int64_t *revision = nullptr) const = 0;

  /** A page of list(kind, ns): at most `limit` objects whose keys follow `after` (from the first
   *  when `after` is all empty), ordered by key; `more` (optional) receives whether objects
   *  follow the page, `revision` (optional) the revision it was read at. Only the page's objects
   *  are copied. */
  virtual std::vector<StoredObject> list_after(const std::string &kind, const std::string &ns,
                                               const StoreKey &after, size_t limit,
                                               bool *more = nullptr,
                                               int64_t *revision = nullptr) const {
    std::vector<StoredObject> all = list(kind, ns, revision), page;
    const bool from_start = after.kind.empty() && after.ns.empty() && after.name.empty();
    for (auto &object : all) {
      if (!from_start && !(after < object.key)) continue;
      if (page.size() == limit) {
        if (more != nullptr) *more = true;
        return page;
      }
      page.push_back(std::move(object));
    }
    if (more != nullptr) *more = false;
    return page;
  }

  /** Applies `writes` atomically (all or none) as one write transaction at a new revision and
   *  returns the written objects in order (deleted ones as they were), shared and immutable:
   *  most callers ignore them, so none is copied. Throws StoreError. An empty batch is a no-op
   *  that returns nothing. */
  virtual std::vector<std::shared_ptr<const StoredObject>> commit(
      std::vector<StoreWrite> writes) = 0;

  /** Starts a watch. since_revision 0 = synthetic ADDED events for every current matching
   *  object, then live changes; otherwise the changes after since_revision (kCompacted if that
   *  history is no longer retained). */
  virtual std::unique_ptr<Watch> watch(const WatchFilter &filter, int64_t since_revision) = 0;

  /** The current (last written) global revision; 0 for an empty new store. */
  virtual int64_t revision() const = 0;

  /** Number of write transactions committed since this Store was opened. */
  virtual uint64_t write_transactions() const = 0;

  /** Number of object writes (creates, updates, deletes) since this Store was opened. */
  virtual uint64_t object_writes() const = 0;

  // Convenience wrappers over commit().
  /** Creates `object` at `key`; throws kAlreadyExists. */
  StoredObject create(const StoreKey &key, const nlohmann::json &object);
  /** Replaces the object at `key` if its version is `expected_version` (0 = any). */
  StoredObject update(const StoreKey &key, const nlohmann::json &object, int64_t expected_version);
  /** Creates or replaces the object at `key`. */
  StoredObject put(const StoreKey &key, const nlohmann::json &object);
  /** Deletes `key` (version check when non-zero); returns the object as it was, nullopt if
   *  absent. */
  std::optional<StoredObject> remove(const StoreKey &key, int64_t expected_version = 0);
};

/** What open_store() needs besides the URL to reach an etcd cluster over TLS; the memory and
 *  SQLite stores ignore it. */
struct StoreOptions {
  std::string etcd_ca_file;    ///< PEM CA of the etcd members' serving certificates: TLS when set.
  std::string etcd_cert_file;  ///< PEM client certificate (etcd's --client-cert-auth).
  std::string etcd_key_file;   ///< Its private key.
};

/** Opens a store from a URL: "memory", "sqlite:PATH" or "etcd://HOST:PORT[,HOST:PORT...]"
 *  (optionally followed by /PREFIX, default /hal). Throws StoreError, or std::invalid_argument
 *  for an unknown scheme or a malformed URL. */
std::unique_ptr<Store> open_store(const std::string &url, const StoreOptions &options = {});

}  // namespace hal::controller

#endif  // HAL_CONTROLLER_STORE_STORE_H
