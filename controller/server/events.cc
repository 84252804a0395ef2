// events.cc - aggregated Event objects.
#include "controller/server/events.h"

#include <algorithm>
#include <cctype>

#include "controller/server/object_util.h"

namespace hal::controller {
namespace {

std::string event_namespace(const StoreKey &involved) {
  return involved.ns.empty() ? "default" : involved.ns;
}

std::string event_name(const StoreKey &involved, const std::string &reason) {
  std::string kind;
  for (char c : involved.kind)
    kind += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string lower;
  for (char c : reason) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return involved.name + "." + kind + "." + lower;
}

}  // namespace

StoreWrite record_event(const Store &store, const StoreKey &involved, EventType type,
                        const std::string &reason, const std::string &message) {
  StoreKey key{kEventKind, event_namespace(involved), event_name(involved, reason)};
  const std::string now = now_rfc3339();
  nlohmann::json event;
  if (auto existing = store.get(key)) {
    event = std::move(existing->object);
    event["count"] = event.value("count", 1) + 1;
  } else {
    event = {{"apiVersion", "v1"},
             {"kind", kEventKind},
             {"metadata", {{"name", key.name}, {"namespace", key.ns}, {"uid", new_uid()}}},
             {"involvedObject",
              {{"kind", involved.kind}, {"namespace", involved.ns}, {"name", involved.name}}},
             {"firstTimestamp", now},
             {"count", 1},
             {"source", {{"component", "hal-controller"}}}};
  }
  event["type"] = type == EventType::kNormal ? "Normal" : "Warning";
  event["reason"] = reason;
  event["message"] = message;
  event["lastTimestamp"] = now;
  return StoreWrite{StoreWrite::Op::kPut, std::move(key), std::move(event), 0, false};
}

std::vector<StoredObject> events_for(const Store &store, const StoreKey &involved) {
  std::vector<StoredObject> result;
  for (auto &event : store.list(kEventKind, event_namespace(involved))) {
    const auto &object = member_or_empty(event.object, "involvedObject");
    if (object.is_object() && object.value("kind", "") == involved.kind &&
        object.value("name", "") == involved.name && object.value("namespace", "") == involved.ns) {
      result.push_back(std::move(event));
    }
  }
  std::sort(result.begin(), result.end(), [](const StoredObject &a, const StoredObject &b) {
    return a.object.value("lastTimestamp", "") < b.object.value("lastTimestamp", "") ||
           (a.object.value("lastTimestamp", "") == b.object.value("lastTimestamp", "") &&
            a.version < b.version);
  });
  return result;
}

std::vector<StoreWrite> delete_events(const Store &store, const StoreKey &involved) {
  std::vector<StoreWrite> writes;
  for (const auto &event : events_for(store, involved)) {
    writes.push_back(StoreWrite{StoreWrite::Op::kDelete, event.key, nlohmann::json(), 0, true});
  }
  return writes;
}

}  // namespace hal::controller
