// api_limits.cc - manifest size refusal, List pages and bounded echoes (see api_limits.h).
#include "controller/server/api_limits.h"

#include <string>

#include "controller/server/controller_service.h"
#include "controller/server/heap_release.h"
#include "controller/server/object_util.h"
#include "controller/server/vm_actions.h"

namespace hal::controller {

using nlohmann::json;

namespace {

// Room for the rest of an ApplyRequest besides its manifest (the field tags, dry_run).
constexpr size_t kRequestEnvelope = 64 * 1024;

// Objects read for a page asked for with a continue token but no limit (the bytes bound it).
constexpr int64_t kUnlimitedPage = 10000;

// A continue token: the revision of the list's first page and the key of the last object sent.
struct ContinueToken {
  int64_t revision = 0;
  StoreKey after;
};

std::string encode(const ContinueToken &token) {
  return json{{"v", 1},
              {"rv", token.revision},
              {"kind", token.after.kind},
              {"ns", token.after.ns},
              {"name", token.after.name}}
      .dump();
}

ContinueToken decode(const std::string &text) {
  const json token = json::parse(text, nullptr, false);
  if (!token.is_object() || token.value("v", 0) != 1 || !token.contains("rv") ||
      !token["rv"].is_number_integer() || !token.contains("kind") || !token["kind"].is_string() ||
      !token.contains("ns") || !token["ns"].is_string() || !token.contains("name") ||
      !token["name"].is_string()) {
    throw ActionError(grpc::StatusCode::INVALID_ARGUMENT,
                      "continue: not a continue token of this controller (pass the previous "
                      "page's continue as it came)");
  }
  return ContinueToken{token["rv"].get<int64_t>(),
                       StoreKey{token["kind"].get<std::string>(), token["ns"].get<std::string>(),
                                token["name"].get<std::string>()}};
}

}  // namespace

size_t max_request_bytes(const ObjectLimits &limits) {
  return limits.manifest_bytes + kRequestEnvelope;
}

std::optional<grpc::Status> refuse_manifest_size(size_t bytes, const ObjectLimits &limits) {
  if (bytes <= limits.manifest_bytes) return std::nullopt;
  return grpc::Status(
      grpc::StatusCode::RESOURCE_EXHAUSTED,
      "the manifest is " + std::to_string(bytes) + " bytes; one apply takes at most " +
          std::to_string(limits.manifest_bytes) + " (" + format_bytes(limits.manifest_bytes) +
          ", hal-controller --max-manifest-bytes): apply it in parts");
}

void fill_list_page(const Store &store, const std::string &kind, const v1::ListRequest &request,
                    size_t page_bytes, v1::ListResponse *response) {
  if (request.limit() < 0)
    throw ActionError(grpc::StatusCode::INVALID_ARGUMENT, "limit: must not be negative");
  int64_t revision = 0;
  if (request.limit() == 0 && request.continue_().empty()) {
    size_t bytes = 0;
    for (const auto &stored : store.list(kind, request.namespace_(), &revision)) {
      v1::Object *wire = response->add_objects();
      to_wire(stored, wire);
      bytes += wire->json().size();
    }
    response->set_resource_version(revision);
    if (bytes >= kLargeMessageBytes) release_free_heap_soon();  // once the answer is sent
    return;
  }
  ContinueToken token;
  if (!request.continue_().empty()) token = decode(request.continue_());
  const size_t limit =
      request.limit() > 0 ? static_cast<size_t>(request.limit()) : size_t{kUnlimitedPage};
  bool more = false;
  std::vector<StoredObject> page =
      store.list_after(kind, request.namespace_(), token.after, limit, &more, &revision);
  // Every page answers the first page's revision.
  response->set_resource_version(request.continue_().empty() ? revision : token.revision);
  size_t bytes = 0, count = 0;
  for (const StoredObject &stored : page) {
    v1::Object wire;
    to_wire(stored, &wire);
    if (count > 0 && bytes + wire.json().size() > page_bytes) {
      more = true;
      break;
    }
    bytes += wire.json().size();
    ++count;
    *response->add_objects() = std::move(wire);
  }
  if (more && count > 0)
    response->set_continue_(
        encode(ContinueToken{response->resource_version(), page[count - 1].key}));
}

void to_wire_within(const StoredObject &stored, size_t &budget, v1::Object *object) {
  to_wire(stored, object);
  if (object->json().size() <= budget) {
    budget -= object->json().size();
    return;
  }
  budget = 0;
  json brief = json::object();
  if (!stored.object.is_object()) return;
  for (const char *field : {"apiVersion", "kind"}) {
    if (stored.object.contains(field)) brief[field] = stored.object[field];
  }
  // Not labels or annotations: they may be large too.
  const json &metadata = member_or_empty(stored.object, "metadata");
  for (const char *field :
       {"name", "namespace", "uid", "generation", "resourceVersion", "creationTimestamp"}) {
    if (metadata.contains(field)) brief["metadata"][field] = metadata[field];
  }
  object->set_json(brief.dump());
}

}  // namespace hal::controller
