// controller_service.cc - Controller gRPC service implementation.
#include "controller/server/controller_service.h"

#include <algorithm>
#include <cctype>

#include "controller/server/api_limits.h"
#include "controller/server/heap_release.h"
#include "controller/server/object_util.h"
#include "core/log/log.h"
#include "hal/host.hpp"

namespace hal::controller {

using nlohmann::json;

namespace {

const std::set<std::string> kApplyKinds = {kVmKind, kVmiKind, kVmimKind, kNodePoolKind};

grpc::Status status_of(const std::exception &e) {
  if (auto *action = dynamic_cast<const ActionError *>(&e)) {
    return grpc::Status(static_cast<grpc::StatusCode>(action->code()), action->what());
  }
  if (auto *store = dynamic_cast<const StoreError *>(&e)) {
    switch (store->code()) {
      case StoreErrorCode::kNotFound:
        return grpc::Status(grpc::StatusCode::NOT_FOUND, e.what());
      case StoreErrorCode::kAlreadyExists:
        return grpc::Status(grpc::StatusCode::ALREADY_EXISTS, e.what());
      case StoreErrorCode::kConflict:
        return grpc::Status(grpc::StatusCode::ABORTED, e.what());
      case StoreErrorCode::kCompacted:
        return grpc::Status(grpc::StatusCode::OUT_OF_RANGE, e.what());
      default:
        return grpc::Status(grpc::StatusCode::INTERNAL, e.what());
    }
  }
  if (auto *error = dynamic_cast<const hal::Error *>(&e)) {
    return grpc::Status(static_cast<grpc::StatusCode>(error->status()), e.what());
  }
  return grpc::Status(grpc::StatusCode::INTERNAL, e.what());
}

template <class Body>
grpc::Status guarded(Body &&body) {
  try {
    return body();
  } catch (const std::exception &e) {
    return status_of(e);
  }
}

/** The hostDisk paths of a VM or VMI `document` outside the host path roots of its NodePool
 *  (spec.nodeSelector hal.dev/pool), taken from `documents` or else the store; none when the
 *  pool is unknown or declares no roots (the node still checks against its own). */
std::vector<FieldError> host_path_errors(const json &document, const std::vector<json> &documents,
                                         const Store &store) {
  const std::string kind = document.value("kind", "");
  if (kind != kVmKind && kind != kVmiKind) return {};
  const std::string where = kind == kVmKind ? "spec.template.spec" : "spec";
  const json::json_pointer at(kind == kVmKind ? "/spec/template/spec" : "/spec");
  if (!document.contains(at)) return {};
  const json *spec = &document.at(at);
  const json *selector =
      spec->is_object() && spec->contains("nodeSelector") ? &(*spec)["nodeSelector"] : nullptr;
  if (selector == nullptr || !selector->is_object() || !selector->contains("hal.dev/pool") ||
      !(*selector)["hal.dev/pool"].is_string())
    return {};
  const std::string pool = (*selector)["hal.dev/pool"].get<std::string>();
  json pool_object;
  for (const json &other : documents) {
    if (other.value("kind", "") == kNodePoolKind && other.contains("metadata") &&
        other["metadata"].value("name", "") == pool)
      pool_object = other;
  }
  if (pool_object.is_null()) {
    if (auto stored = store.get(StoreKey{kNodePoolKind, "", pool})) pool_object = stored->object;
  }
  if (!pool_object.is_object() || !pool_object["spec"].contains("hostPathRoots")) return {};
  return check_host_path_roots(*spec, where, pool, pool_host_path_roots(pool_object));
}

/** Every field error of `documents` (size limits included), and every kind Apply does not
 *  take, one per line. */
std::string apply_errors(const std::vector<json> &documents, const Store &store,
                         const ObjectLimits &limits) {
  std::string errors;
  for (const json &document : documents) {
    auto problems = validate_object(document);
    if (problems.empty()) problems = check_object_limits(document, document.dump().size(), limits);
    if (problems.empty()) problems = host_path_errors(document, documents, store);
    if (!problems.empty()) {
      if (!errors.empty() && errors.back() != '\n') errors += "\n";
      errors += format_errors(document, problems);
      continue;
    }
    std::string kind = document.value("kind", "");
    if (kApplyKinds.count(kind) == 0) {
      errors += (errors.empty() || errors.back() == '\n' ? "" : "\n") + kind + "/" +
                document["metadata"].value("name", "") + ": kind: " + kind +
                " cannot be applied (nodes register themselves)";
    }
  }
  return errors;
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

/** The key a request names, with the namespace defaulted. */
StoreKey request_key(const std::string &kind_name, const std::string &ns, const std::string &name) {
  auto kind = resolve_kind(kind_name);
  if (!kind)
    throw ActionError(grpc::StatusCode::INVALID_ARGUMENT, "unknown kind \"" + kind_name + "\"");
  StoreKey key{*kind, ns, name};
  if (cluster_scoped(*kind)) {
    key.ns.clear();
  } else if (key.ns.empty()) {
    key.ns = "default";
  }
  return key;
}

/** Fields a user may change on apply (status and server metadata stay). */
bool same_desired(const json &a, const json &b) {
  auto pick = [](const json &object) {
    json picked{{"spec", object.value("spec", json())}};
    if (object.contains("metadata")) {
      picked["labels"] = object["metadata"].value("labels", json());
      picked["annotations"] = object["metadata"].value("annotations", json());
    }
    return picked;
  };
  return pick(a) == pick(b);
}

}  // namespace

std::optional<std::string> resolve_kind(const std::string &name) {
  const std::string l = lower(name);
  if (l == "event" || l == "events" || l == "ev") return std::string(kEventKind);
  return canonical_kind(name);
}

void to_wire(const StoredObject &stored, v1::Object *object) {
  object->set_kind(stored.key.kind);
  object->set_namespace_(stored.key.ns);
  object->set_name(stored.key.name);
  object->set_json(stored.object.dump());
  object->set_resource_version(stored.version);
}

ControllerService::ControllerService(Controller &controller) : controller_(controller) {}

grpc::Status ControllerService::Apply(grpc::ServerContext *, const v1::ApplyRequest *request,
                                      v1::ApplyResponse *response) {
  const ObjectLimits &limits = controller_.options().limits;
  if (request->manifest().size() >= kLargeMessageBytes) release_free_heap_soon();
  if (auto refused = refuse_manifest_size(request->manifest().size(), limits)) return *refused;
  std::vector<json> documents;
  try {
    documents = parse_manifests(request->manifest());
  } catch (const std::exception &e) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, e.what());
  }
  if (documents.empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "the manifest has no objects");
  }
  // Guarded: a validator that throws on some input answers INTERNAL, it does not end the process.
  std::string errors;
  const grpc::Status checked = guarded([&] {
    errors = apply_errors(documents, controller_.store(), limits);
    return grpc::Status::OK;
  });
  if (!checked.ok()) return checked;
  if (!errors.empty()) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, errors);
  return guarded([&] {
    Store &store = controller_.store();
    for (int attempt = 0; attempt < 10; ++attempt) {
      std::vector<StoreWrite> writes;
      std::vector<std::string> outcomes;
      std::vector<StoredObject> results;
      std::set<StoreKey> seen;
      for (const json &document : documents) {
        json object = apply_defaults(document);
        StoreKey key = key_of(object);
        if (!seen.insert(key).second) {
          throw ActionError(grpc::StatusCode::INVALID_ARGUMENT,
                            key.str() + " appears twice in the manifest");
        }
        if (!cluster_scoped(key.kind)) object["metadata"]["namespace"] = key.ns;
        auto existing = store.get(key);
        if (existing && same_desired(existing->object, object)) {
          outcomes.push_back("unchanged");
          results.push_back(*existing);
          continue;
        }
        json stored;
        if (existing) {
          stored = existing->object;
          if (stored["metadata"].contains("deletionTimestamp")) {
            throw ActionError(grpc::StatusCode::FAILED_PRECONDITION,
                              key.str() + " is being deleted");
          }
          stored["spec"] = object.value("spec", json::object());
          for (const char *field : {"labels", "annotations"}) {
            if (object["metadata"].contains(field)) {
              stored["metadata"][field] = object["metadata"][field];
            } else {
              stored["metadata"].erase(field);
            }
          }
          stored["metadata"]["generation"] = stored["metadata"].value("generation", 1) + 1;
          outcomes.push_back("configured");
        } else {
          stored = std::move(object);
          stored["metadata"]["uid"] = new_uid();
          stored["metadata"]["generation"] = 1;
          stored["metadata"]["creationTimestamp"] = now_rfc3339();
          stored["metadata"].erase("resourceVersion");
          if (!stored.contains("status")) stored["status"] = json::object();
          outcomes.push_back("created");
        }
        const int64_t version = existing ? existing->version : 0;
        // A dry run answers with what would be stored; otherwise the answer is what was.
        results.push_back(StoredObject{key, request->dry_run() ? stored : json(), version});
        writes.push_back(StoreWrite{existing ? StoreWrite::Op::kUpdate : StoreWrite::Op::kCreate,
                                    key, std::move(stored), version, false});
      }
      size_t budget = limits.list_page_bytes;  // what the answer echoes in full
      if (request->dry_run()) {
        for (size_t i = 0; i < results.size(); ++i) {
          to_wire_within(results[i], budget, response->add_objects());
          response->add_outcomes(outcomes[i] + " (dry run)");
        }
        return grpc::Status::OK;
      }
      std::vector<std::shared_ptr<const StoredObject>> written;
      try {
        written = store.commit(std::move(writes));
      } catch (const StoreError &e) {
        if (e.code() == StoreErrorCode::kConflict || e.code() == StoreErrorCode::kAlreadyExists)
          continue;
        throw;
      }
      size_t next = 0;
      for (size_t i = 0; i < results.size(); ++i) {
        const bool unchanged = outcomes[i] == "unchanged";
        const StoredObject &result = unchanged ? results[i] : *written.at(next++);
        to_wire_within(result, budget, response->add_objects());
        response->add_outcomes(outcomes[i]);
        if (!unchanged) controller_.enqueue(result.key);
      }
      return grpc::Status::OK;
    }
    return grpc::Status(grpc::StatusCode::ABORTED, "objects keep changing; apply again");
  });
}

grpc::Status ControllerService::Get(grpc::ServerContext *, const v1::ObjectKey *request,
                                    v1::Object *response) {
  return guarded([&] {
    StoreKey key = request_key(request->kind(), request->namespace_(), request->name());
    auto stored = controller_.store().get(key);
    if (!stored) return grpc::Status(grpc::StatusCode::NOT_FOUND, key.str() + " not found");
    to_wire(*stored, response);
    return grpc::Status::OK;
  });
}

grpc::Status ControllerService::List(grpc::ServerContext *, const v1::ListRequest *request,
                                     v1::ListResponse *response) {
  return guarded([&] {
    std::string kind;
    if (!request->kind().empty()) kind = request_key(request->kind(), "", "x").kind;
    fill_list_page(controller_.store(), kind, *request,
                   controller_.options().limits.list_page_bytes, response);
    return grpc::Status::OK;
  });
}

grpc::Status ControllerService::Watch(grpc::ServerContext *context, const v1::WatchRequest *request,
                                      grpc::ServerWriter<v1::WatchEvent> *writer) {
  return guarded([&] {
    WatchFilter filter;
    if (!request->kind().empty()) {
      StoreKey key = request_key(request->kind(), request->namespace_(), request->name());
      filter.kind = key.kind;
      filter.ns = request->namespace_().empty() && !request->name().empty() ? key.ns
                                                                            : request->namespace_();
      if (cluster_scoped(key.kind)) filter.ns.clear();
    } else {
      filter.ns = request->namespace_();
    }
    filter.name = request->name();
    auto watch = controller_.store().watch(filter, request->since_resource_version());
    while (!context->IsCancelled() && !stopping_) {
      auto event = watch->next(std::chrono::milliseconds(200));
      if (!event) {
        if (watch->closed()) {
          return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                              "watch fell behind; list and watch again");
        }
        continue;
      }
      v1::WatchEvent out;
      out.set_type(watch_type_name(event->type));
      to_wire(event->object, out.mutable_object());
      out.mutable_object()->set_resource_version(event->revision);
      // Events already queued leave together in one write.
      grpc::WriteOptions options;
      if (watch->pending() > 0) options.set_buffer_hint();
      if (!writer->Write(out, options)) break;
    }
    return grpc::Status::OK;
  });
}

grpc::Status ControllerService::Delete(grpc::ServerContext *, const v1::ObjectKey *request,
                                       v1::DeleteResponse *response) {
  return guarded([&] {
    StoreKey key = request_key(request->kind(), request->namespace_(), request->name());
    size_t budget = controller_.options().limits.list_page_bytes;
    to_wire_within(controller_.actions().delete_object(key), budget, response->mutable_object());
    return grpc::Status::OK;
  });
}

namespace {
std::string ns_or_default(const std::string &ns) {
  return ns.empty() ? "default" : ns;
}
}  // namespace

grpc::Status ControllerService::Start(grpc::ServerContext *, const v1::VmActionRequest *request,
                                      v1::Object *response) {
  return guarded([&] {
    to_wire(controller_.actions().start_vm(ns_or_default(request->namespace_()), request->name()),
            response);
    return grpc::Status::OK;
  });
}

grpc::Status ControllerService::Stop(grpc::ServerContext *, const v1::VmActionRequest *request,
                                     v1::Object *response) {
  return guarded([&] {
    to_wire(controller_.actions().stop_vm(ns_or_default(request->namespace_()), request->name(),
                                          request->force()),
            response);
    return grpc::Status::OK;
  });
}

grpc::Status ControllerService::Restart(grpc::ServerContext *, const v1::VmActionRequest *request,
                                        v1::Object *response) {
  return guarded([&] {
    to_wire(controller_.actions().restart_vm(ns_or_default(request->namespace_()), request->name()),
            response);
    return grpc::Status::OK;
  });
}

grpc::Status ControllerService::Pause(grpc::ServerContext *, const v1::VmActionRequest *request,
                                      v1::Object *response) {
  return guarded([&] {
    to_wire(
        controller_.actions().pause_vm(ns_or_default(request->namespace_()), request->name(), true),
        response);
    return grpc::Status::OK;
  });
}

grpc::Status ControllerService::Unpause(grpc::ServerContext *, const v1::VmActionRequest *request,
                                        v1::Object *response) {
  return guarded([&] {
    to_wire(controller_.actions().pause_vm(ns_or_default(request->namespace_()), request->name(),
                                           false),
            response);
    return grpc::Status::OK;
  });
}

grpc::Status ControllerService::Migrate(grpc::ServerContext *, const v1::MigrateRequest *request,
                                        v1::Object *response) {
  return guarded([&] {
    to_wire(controller_.actions().migrate_vm(ns_or_default(request->namespace_()), request->name(),
                                             request->target_node()),
            response);
    return grpc::Status::OK;
  });
}

grpc::Status ControllerService::Drain(grpc::ServerContext *, const v1::DrainRequest *request,
                                      v1::DrainResponse *response) {
  return guarded([&] {
    DrainResult result =
        controller_.actions().drain(request->node(), request->cordon_only(), request->uncordon());
    for (const auto &migration : result.migrations) to_wire(migration, response->add_migrations());
    for (const auto &skipped : result.skipped) response->add_skipped(skipped);
    return grpc::Status::OK;
  });
}

grpc::Status ControllerService::Console(grpc::ServerContext *, const v1::VmActionRequest *request,
                                        v1::ConsoleLocation *response) {
  return guarded([&] {
    auto [node, vm_id] =
        controller_.actions().console(ns_or_default(request->namespace_()), request->name());
    response->set_node(node.name);
    response->set_node_address(node.address);
    response->set_vm_id(vm_id);
    return grpc::Status::OK;
  });
}

}  // namespace hal::controller
