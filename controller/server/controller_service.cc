// controller_service.cc - Controller gRPC service implementation.
#include "controller/server/controller_service.h"

#include <algorithm>
#include <cctype>

#include "controller/api/rbac_api.h"
#include "controller/server/api_limits.h"
#include "controller/server/heap_release.h"
#include "controller/server/object_util.h"
#include "core/log/log.h"
#include "hal/host.hpp"

namespace hal::controller {

using nlohmann::json;

namespace {

const std::set<std::string> kApplyKinds = {
    kVmKind,   kVmiKind,         kVmimKind,        kNodePoolKind,
    kRoleKind, kClusterRoleKind, kRoleBindingKind, kClusterRoleBindingKind};

/** The top-level fields a user sets on objects of `kind` (the rest is metadata or status). */
std::vector<const char *> desired_fields(const std::string &kind) {
  if (kind == kRoleKind || kind == kClusterRoleKind) return {"rules"};
  if (kind == kRoleBindingKind || kind == kClusterRoleBindingKind) return {"subjects", "roleRef"};
  return {"spec"};
}

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

/** Checks `request` for the caller of `context`, runs `body` when allowed and, for a mutating
 *  `call`, appends its audit line. */
template <class Body>
grpc::Status gated(const ApiAccess &access, const Caller &caller, const char *call,
                   const rbac::AccessRequest &request, bool audited, Body &&body) {
  grpc::Status status = access.check(caller, request);
  const bool allowed = status.ok();
  if (allowed) status = guarded(std::forward<Body>(body));
  if (audited) access.audit(caller, call, request, allowed ? "allowed" : "denied", status);
  return status;
}

/** gated() for the caller of `context`. */
template <class Body>
grpc::Status gated(const ApiAccess &access, const grpc::ServerContextBase &context,
                   const char *call, const rbac::AccessRequest &request, bool audited,
                   Body &&body) {
  return gated(access, access.caller(context), call, request, audited, std::forward<Body>(body));
}

/** The store key a manifest document names (kind, namespace defaulted, name); an empty key when
 *  its kind or metadata are malformed (validation says how). */
StoreKey document_key(const json &document) {
  try {
    return key_of(document);
  } catch (const json::exception &) {
    return StoreKey{};
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
    json picked = json::object();
    for (const char *field : desired_fields(object.value("kind", "")))
      picked[field] = object.value(field, json());
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

ControllerService::ControllerService(Controller &controller, ApiAccess access)
    : controller_(controller),
      access_(access),
      console_([this](const grpc::CallbackServerContext &context, const v1::ConsoleInput &first,
                      ConsoleTarget &target) { return resolve_console(context, first, target); }) {}

grpc::Status ControllerService::Apply(grpc::ServerContext *context, const v1::ApplyRequest *request,
                                      v1::ApplyResponse *response) {
  const Caller caller = access_.caller(*context);
  const bool dry_run = request->dry_run();
  const ObjectLimits &limits = controller_.options().limits;
  if (request->manifest().size() >= kLargeMessageBytes) release_free_heap_soon();
  if (auto refused = refuse_manifest_size(request->manifest().size(), limits)) {
    access_.audit(caller, "Apply", rbac::AccessRequest{"create", "", "", "", ""}, "none", *refused,
                  dry_run);
    return *refused;
  }
  std::vector<json> documents;
  grpc::Status unreadable = grpc::Status::OK;
  try {
    documents = parse_manifests(request->manifest());
  } catch (const std::exception &e) {
    unreadable = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, e.what());
  }
  if (unreadable.ok() && documents.empty())
    unreadable = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "the manifest has no objects");
  if (!unreadable.ok()) {
    access_.audit(caller, "Apply", rbac::AccessRequest{"create", "", "", "", ""}, "none",
                  unreadable, dry_run);
    return unreadable;
  }
  Store &store = controller_.store();
  // What each document asks for: create, or update when its object exists. Unrestricted callers
  // are not checked, so their verbs are only settled for the audit.
  std::vector<rbac::AccessRequest> asked;
  std::vector<std::string> decisions(documents.size(), "allowed");
  for (size_t i = 0; i < documents.size(); ++i) {
    const StoreKey key = document_key(documents[i]);
    asked.push_back(kind_request("", key.kind, key.ns, key.name));
    if (asked[i].resource.empty()) {
      decisions[i] = "none";  // No such kind: validation refuses it.
      continue;
    }
    if (caller.unrestricted) continue;
    asked[i].verb = store.get(key) ? "update" : "create";
    const grpc::Status allowed = access_.check(caller, asked[i]);
    if (!allowed.ok()) {
      access_.audit(caller, "Apply", asked[i], "denied", allowed, dry_run);
      return allowed;
    }
  }
  // Audits every document with the call's status.
  auto finish = [&](const grpc::Status &status) {
    for (size_t i = 0; i < documents.size(); ++i) {
      if (asked[i].verb.empty()) {
        const StoreKey key = document_key(documents[i]);
        asked[i].verb = !key.kind.empty() && store.get(key) ? "update" : "create";
      }
      access_.audit(caller, "Apply", asked[i], decisions[i], status, dry_run);
    }
    return status;
  };
  // Guarded: a validator that throws on some input answers INTERNAL, it does not end the process.
  std::string errors;
  const grpc::Status checked = guarded([&] {
    errors = apply_errors(documents, store, limits);
    return grpc::Status::OK;
  });
  if (!checked.ok()) return finish(checked);
  if (!errors.empty()) return finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, errors));
  // RBAC objects may only grant what their writer holds.
  for (size_t i = 0; i < documents.size(); ++i) {
    if (!is_rbac_kind(documents[i].value("kind", ""))) continue;  // Validated: kind is a string.
    grpc::Status granted = guarded(
        [&] { return access_.check_grant(caller, apply_defaults(documents[i]), documents); });
    if (!granted.ok()) {
      access_.audit(caller, "Apply", asked[i], "denied", granted, dry_run);
      return granted;
    }
  }
  return finish(guarded([&] {
    for (int attempt = 0; attempt < 10; ++attempt) {
      std::vector<StoreWrite> writes;
      std::vector<std::string> outcomes;
      std::vector<StoredObject> results;
      std::set<StoreKey> seen;
      for (size_t i = 0; i < documents.size(); ++i) {
        json object = apply_defaults(documents[i]);
        StoreKey key = key_of(object);
        if (!seen.insert(key).second) {
          throw ActionError(grpc::StatusCode::INVALID_ARGUMENT,
                            key.str() + " appears twice in the manifest");
        }
        if (!cluster_scoped(key.kind)) object["metadata"]["namespace"] = key.ns;
        auto existing = store.get(key);
        // The object came or went since the check: check the verb it now takes.
        const std::string verb = existing ? "update" : "create";
        if (asked[i].verb != verb) {
          const bool checked_before = !asked[i].verb.empty();
          asked[i].verb = verb;
          if (checked_before) {
            grpc::Status allowed = access_.check(caller, asked[i]);
            if (!allowed.ok()) {
              decisions[i] = "denied";
              return allowed;
            }
          }
        }
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
          if (is_rbac_kind(key.kind) &&
              object.value("roleRef", json()) != stored.value("roleRef", json())) {
            // As in Kubernetes: who a binding grants what must not change under its name.
            throw ActionError(grpc::StatusCode::INVALID_ARGUMENT,
                              key.str() + ": roleRef: cannot be changed; delete the " + key.kind +
                                  " and create it again");
          }
          for (const char *field : desired_fields(key.kind)) {
            if (object.contains(field)) {
              stored[field] = object[field];
            } else if (std::string_view(field) == "spec") {
              stored[field] = json::object();
            } else {
              stored.erase(field);
            }
          }
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
          // RBAC objects have no status in Kubernetes either.
          if (!stored.contains("status") && !is_rbac_kind(key.kind))
            stored["status"] = json::object();
          outcomes.push_back("created");
        }
        const int64_t version = existing ? existing->version : 0;
        // A dry run answers with what would be stored; otherwise the answer is what was.
        results.push_back(StoredObject{key, dry_run ? stored : json(), version});
        writes.push_back(StoreWrite{existing ? StoreWrite::Op::kUpdate : StoreWrite::Op::kCreate,
                                    key, std::move(stored), version, false});
      }
      size_t budget = limits.list_page_bytes;  // what the answer echoes in full
      if (dry_run) {
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
  }));
}

grpc::Status ControllerService::Get(grpc::ServerContext *context, const v1::ObjectKey *request,
                                    v1::Object *response) {
  StoreKey key;
  grpc::Status named = guarded([&] {
    key = request_key(request->kind(), request->namespace_(), request->name());
    return grpc::Status::OK;
  });
  if (!named.ok()) return named;
  return gated(access_, *context, "Get", kind_request("get", key.kind, key.ns, key.name), false,
               [&] {
                 auto stored = controller_.store().get(key);
                 if (!stored)
                   return grpc::Status(grpc::StatusCode::NOT_FOUND, key.str() + " not found");
                 to_wire(*stored, response);
                 return grpc::Status::OK;
               });
}

namespace {
/** The requests a List or Watch of `kind` ("" = every kind) in `ns` ("" = every namespace)
 *  makes: one per kind it can return. */
std::vector<rbac::AccessRequest> read_requests(const std::string &verb, const std::string &kind,
                                               const std::string &ns, const std::string &name) {
  if (!kind.empty()) return {kind_request(verb, kind, ns, name)};
  std::vector<rbac::AccessRequest> requests;
  for (const ApiResource &resource : api_resources()) {
    // A namespace holds no cluster-scoped objects.
    if (resource.kind.empty() || (!ns.empty() && !resource.namespaced)) continue;
    requests.push_back(kind_request(verb, std::string(resource.kind), ns, name));
  }
  return requests;
}

/** OK when the caller may make every one of `requests`; else the first refusal. */
grpc::Status check_all(const ApiAccess &access, const grpc::ServerContext &context,
                       const std::vector<rbac::AccessRequest> &requests) {
  const Caller caller = access.caller(context);
  for (const auto &request : requests) {
    grpc::Status status = access.check(caller, request);
    if (!status.ok()) return status;
  }
  return grpc::Status::OK;
}

}  // namespace

grpc::Status ControllerService::List(grpc::ServerContext *context, const v1::ListRequest *request,
                                     v1::ListResponse *response) {
  return guarded([&] {
    std::string kind;
    if (!request->kind().empty()) kind = request_key(request->kind(), "", "x").kind;
    grpc::Status allowed =
        check_all(access_, *context, read_requests("list", kind, request->namespace_(), ""));
    if (!allowed.ok()) return allowed;
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
    grpc::Status allowed =
        check_all(access_, *context, read_requests("watch", filter.kind, filter.ns, filter.name));
    if (!allowed.ok()) return allowed;
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

grpc::Status ControllerService::Delete(grpc::ServerContext *context, const v1::ObjectKey *request,
                                       v1::DeleteResponse *response) {
  StoreKey key;
  grpc::Status named = guarded([&] {
    key = request_key(request->kind(), request->namespace_(), request->name());
    return grpc::Status::OK;
  });
  if (!named.ok()) {
    access_.audit(
        access_.caller(*context), "Delete",
        rbac::AccessRequest{"delete", "", request->kind(), request->namespace_(), request->name()},
        "none", named);
    return named;
  }
  return gated(access_, *context, "Delete", kind_request("delete", key.kind, key.ns, key.name),
               true, [&] {
                 size_t budget = controller_.options().limits.list_page_bytes;
                 to_wire_within(controller_.actions().delete_object(key), budget,
                                response->mutable_object());
                 return grpc::Status::OK;
               });
}

namespace {
std::string ns_or_default(const std::string &ns) {
  return ns.empty() ? "default" : ns;
}

/** KubeVirt's subresource for a VM action: update on virtualmachines/ACTION (start, stop,
 *  restart) or virtualmachineinstances/ACTION (pause, unpause). */
rbac::AccessRequest action_request(const std::string &resource,
                                   const v1::VmActionRequest &request) {
  return subresource_request("update", resource, ns_or_default(request.namespace_()),
                             request.name());
}
}  // namespace

grpc::Status ControllerService::Start(grpc::ServerContext *context,
                                      const v1::VmActionRequest *request, v1::Object *response) {
  return gated(
      access_, *context, "Start", action_request("virtualmachines/start", *request), true, [&] {
        to_wire(
            controller_.actions().start_vm(ns_or_default(request->namespace_()), request->name()),
            response);
        return grpc::Status::OK;
      });
}

grpc::Status ControllerService::Stop(grpc::ServerContext *context,
                                     const v1::VmActionRequest *request, v1::Object *response) {
  return gated(access_, *context, "Stop", action_request("virtualmachines/stop", *request), true,
               [&] {
                 to_wire(controller_.actions().stop_vm(ns_or_default(request->namespace_()),
                                                       request->name(), request->force()),
                         response);
                 return grpc::Status::OK;
               });
}

grpc::Status ControllerService::Restart(grpc::ServerContext *context,
                                        const v1::VmActionRequest *request, v1::Object *response) {
  return gated(
      access_, *context, "Restart", action_request("virtualmachines/restart", *request), true, [&] {
        to_wire(
            controller_.actions().restart_vm(ns_or_default(request->namespace_()), request->name()),
            response);
        return grpc::Status::OK;
      });
}

grpc::Status ControllerService::Pause(grpc::ServerContext *context,
                                      const v1::VmActionRequest *request, v1::Object *response) {
  return gated(access_, *context, "Pause",
               action_request("virtualmachineinstances/pause", *request), true, [&] {
                 to_wire(controller_.actions().pause_vm(ns_or_default(request->namespace_()),
                                                        request->name(), true),
                         response);
                 return grpc::Status::OK;
               });
}

grpc::Status ControllerService::Unpause(grpc::ServerContext *context,
                                        const v1::VmActionRequest *request, v1::Object *response) {
  return gated(access_, *context, "Unpause",
               action_request("virtualmachineinstances/unpause", *request), true, [&] {
                 to_wire(controller_.actions().pause_vm(ns_or_default(request->namespace_()),
                                                        request->name(), false),
                         response);
                 return grpc::Status::OK;
               });
}

grpc::Status ControllerService::Migrate(grpc::ServerContext *context,
                                        const v1::MigrateRequest *request, v1::Object *response) {
  // virtctl migrate's virtualmachines/migrate; a grant of virtualmachineinstances/migrate also
  // suffices, as Migrate moves the VMI of that name whether or not a VM owns it. Which one is
  // asked for does not depend on what exists, so a refusal tells nothing about the objects.
  const std::string ns = ns_or_default(request->namespace_());
  rbac::AccessRequest asked =
      subresource_request("update", "virtualmachines/migrate", ns, request->name());
  const rbac::AccessRequest instance =
      subresource_request("update", "virtualmachineinstances/migrate", ns, request->name());
  const Caller caller = access_.caller(*context);
  if (!access_.check(caller, asked).ok() && access_.check(caller, instance).ok()) asked = instance;
  return gated(access_, caller, "Migrate", asked, true, [&] {
    to_wire(controller_.actions().migrate_vm(ns, request->name(), request->target_node()),
            response);
    return grpc::Status::OK;
  });
}

grpc::Status ControllerService::Drain(grpc::ServerContext *context, const v1::DrainRequest *request,
                                      v1::DrainResponse *response) {
  // Drain, cordon and uncordon are one HAL-specific subresource of the cluster-scoped Node.
  return gated(access_, *context, "Drain",
               subresource_request("update", "nodes/drain", "", request->node()), true, [&] {
                 DrainResult result = controller_.actions().drain(
                     request->node(), request->cordon_only(), request->uncordon());
                 for (const auto &migration : result.migrations)
                   to_wire(migration, response->add_migrations());
                 for (const auto &skipped : result.skipped) response->add_skipped(skipped);
                 return grpc::Status::OK;
               });
}

grpc::ServerBidiReactor<v1::ConsoleInput, v1::ConsoleOutput> *ControllerService::Console(
    grpc::CallbackServerContext *context) {
  return console_.open(context);
}

grpc::Status ControllerService::resolve_console(const grpc::CallbackServerContext &context,
                                                const v1::ConsoleInput &first,
                                                ConsoleTarget &target) {
  const std::string ns = ns_or_default(first.namespace_());
  if (first.name().empty())
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "name: the first Console message must name the VirtualMachineInstance");
  // Not a change, but interactive access to a guest: audited like the changes.
  const Caller caller = access_.caller(context);
  return gated(
      access_, caller, "Console",
      subresource_request("get", "virtualmachineinstances/console", ns, first.name()), true, [&] {
        auto [node, vm_id] = controller_.actions().console(ns, first.name());
        std::shared_ptr<NodeConnection> connection = controller_.registry().connection(node.name);
        target = ConsoleTarget{node.name, connection ? connection->channel() : nullptr, vm_id,
                               ns + "/" + first.name(), caller.identity.describe()};
        return grpc::Status::OK;
      });
}

}  // namespace hal::controller
