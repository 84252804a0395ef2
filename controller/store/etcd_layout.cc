// etcd_layout.cc - key encoding and ranges of the etcd store (see etcd_layout.h).
#include "controller/store/etcd_layout.h"

#include <vector>

namespace hal::controller::etcd {
namespace {

// One key part with '%' and '/' escaped.
std::string escape(const std::string &part) {
  std::string out;
  out.reserve(part.size());
  for (char c : part) {
    if (c == '%') {
      out += "%25";
    } else if (c == '/') {
      out += "%2F";
    } else {
      out += c;
    }
  }
  return out;
}

// The part escape() made `escaped` from; nullopt for a malformed escape.
std::optional<std::string> unescape(const std::string &escaped) {
  std::string out;
  out.reserve(escaped.size());
  for (size_t i = 0; i < escaped.size(); ++i) {
    if (escaped[i] != '%') {
      out += escaped[i];
      continue;
    }
    const std::string code = escaped.substr(i + 1, 2);
    if (code == "25") {
      out += '%';
    } else if (code == "2F") {
      out += '/';
    } else {
      return std::nullopt;
    }
    i += 2;
  }
  return out;
}

}  // namespace

std::string encode_key(const std::string &prefix, const StoreKey &key) {
  return prefix + escape(key.kind) + "/" + escape(key.ns) + "/" + escape(key.name);
}

std::optional<StoreKey> decode_key(const std::string &prefix, const std::string &etcd_key) {
  if (etcd_key.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
  std::vector<std::string> parts;
  size_t start = prefix.size();
  for (;;) {
    const size_t slash = etcd_key.find('/', start);
    parts.push_back(etcd_key.substr(start, slash == std::string::npos ? slash : slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  if (parts.size() != 3) return std::nullopt;
  auto kind = unescape(parts[0]), ns = unescape(parts[1]), name = unescape(parts[2]);
  if (!kind || !ns || !name || kind->empty() || name->empty()) return std::nullopt;
  return StoreKey{*kind, *ns, *name};
}

std::string prefix_end(const std::string &prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    auto &last = reinterpret_cast<unsigned char &>(end.back());
    if (last < 0xff) {
      ++last;
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key (etcd's "\0" range end)
}

KeyRange range_of(const std::string &prefix, const std::string &kind, const std::string &ns) {
  std::string start = prefix;
  if (!kind.empty()) {
    start += escape(kind) + "/";
    if (!ns.empty()) start += escape(ns) + "/";
  }
  return KeyRange{start, prefix_end(start)};
}

KeyRange range_of(const std::string &prefix, const WatchFilter &filter) {
  if (!filter.kind.empty() && !filter.ns.empty() && !filter.name.empty())
    return KeyRange{encode_key(prefix, StoreKey{filter.kind, filter.ns, filter.name}), ""};
  return range_of(prefix, filter.kind, filter.ns);
}

std::string encode_value(nlohmann::json &object) {
  if (!object.is_object()) object = nlohmann::json::object();
  if (auto metadata = object.find("metadata"); metadata != object.end() && metadata->is_object())
    metadata->erase("resourceVersion");
  return object.dump();
}

void set_version(StoredObject &object, int64_t revision) {
  object.version = revision;
  object.object["metadata"]["resourceVersion"] = std::to_string(revision);
}

StoredObject decode_object(const std::string &prefix, const etcdserverpb::KeyValue &kv) {
  auto key = decode_key(prefix, kv.key());
  if (!key)
    throw StoreError(StoreErrorCode::kCorrupt,
                     "etcd key " + kv.key() + " is not KIND/NAMESPACE/NAME under " + prefix);
  StoredObject object;
  object.key = std::move(*key);
  try {
    object.object = nlohmann::json::parse(kv.value());
  } catch (const nlohmann::json::exception &e) {
    throw StoreError(StoreErrorCode::kCorrupt,
                     "etcd key " + kv.key() + " does not hold a JSON object: " + e.what());
  }
  if (!object.object.is_object())
    throw StoreError(StoreErrorCode::kCorrupt, "etcd key " + kv.key() + " does not hold an object");
  set_version(object, store_revision(kv.mod_revision()));
  return object;
}

}  // namespace hal::controller::etcd
