// etcd_layout.h - where the etcd store keeps HAL's objects in etcd's flat key space, and how its
// revisions map to etcd's. Each object is one key, PREFIX KIND/NAMESPACE/NAME (cluster-scoped
// kinds have an empty namespace: PREFIX Node//n1), whose value is the object's JSON without
// metadata.resourceVersion (the revision is etcd's mod_revision, known only once written). '/'
// and '%' inside a part are escaped as %2F and %25, so a kind (or kind and namespace) is a key
// prefix, read and watched as one range. etcd counts revisions from 1 (an empty cluster is at 1),
// the Store interface from 0 (an empty store is at 0, and watch(…, 0) means "list first"), so a
// store revision is etcd's minus one, everywhere: versions, list and watch revisions, compaction.
#ifndef HAL_CONTROLLER_STORE_ETCD_LAYOUT_H
#define HAL_CONTROLLER_STORE_ETCD_LAYOUT_H

#include <cstdint>
#include <optional>
#include <string>

#include "controller/store/etcd_rpc.pb.h"
#include "controller/store/store.h"

namespace hal::controller::etcd {

/** The store revision of etcd revision `etcd_revision`. */
inline int64_t store_revision(int64_t etcd_revision) {
  return etcd_revision - 1;
}

/** The etcd revision of store revision `revision`. */
inline int64_t etcd_revision(int64_t revision) {
  return revision + 1;
}

/** A half-open etcd key range [key, end); an empty end is the single key. */
struct KeyRange {
  std::string key;  ///< First key.
  std::string end;  ///< One past the last key ("" = only `key`).
};

/** The etcd key of `key` under `prefix` (which ends with '/'). */
std::string encode_key(const std::string &prefix, const StoreKey &key);

/** The StoreKey of etcd key `etcd_key`, nullopt when it is not one of ours (another prefix, or
 *  not KIND/NAMESPACE/NAME). */
std::optional<StoreKey> decode_key(const std::string &prefix, const std::string &etcd_key);

/** The smallest key greater than every key starting with `prefix` (etcd's range_end for a
 *  prefix). */
std::string prefix_end(const std::string &prefix);

/** The keys of `kind` in `ns` (either empty = all) under `prefix`: the narrowest prefix range;
 *  an empty kind with a namespace is every key (the caller filters by namespace). */
KeyRange range_of(const std::string &prefix, const std::string &kind, const std::string &ns);

/** The range a watch with `filter` reads: one key when kind, namespace and name are all set,
 *  else range_of(kind, ns) (the caller filters by name). */
KeyRange range_of(const std::string &prefix, const WatchFilter &filter);

/** The etcd value of `object` (made a JSON object when it is not one): its JSON text without
 *  metadata.resourceVersion, which is erased from `object` itself. */
std::string encode_value(nlohmann::json &object);

/** The stored object etcd holds in `kv` (one of our keys): its JSON with
 *  metadata.resourceVersion and version set from kv's mod_revision. Throws StoreError(kCorrupt)
 *  when the key is not one of ours or the value is not JSON. */
StoredObject decode_object(const std::string &prefix, const etcdserverpb::KeyValue &kv);

/** Sets `object`'s version and metadata.resourceVersion to store revision `revision`. */
void set_version(StoredObject &object, int64_t revision);

}  // namespace hal::controller::etcd

#endif  // HAL_CONTROLLER_STORE_ETCD_LAYOUT_H
