// fake_controller.cc - the in-process fake Controller service (see fake_controller.h).
#include "controller/halctl/tests/fake_controller.h"

#include <ctime>

#include "controller/api/kubevirt_api.h"
#include "controller/api/rbac_api.h"
#include "hal/host.hpp"

namespace hal::halctl::testing {

using nlohmann::json;

namespace {

bool cluster(const std::string &kind) {
  return hal::controller::is_cluster_scoped_kind(kind);
}

std::string kind_of(const std::string &name) {
  return hal::controller::canonical_kind(name).value_or(name);
}

}  // namespace

FakeController::~FakeController() {
  stop();
}

void FakeController::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  for (auto &t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

int64_t FakeController::put(const json &object) {
  std::lock_guard lock(mutex_);
  return put_locked(object, "");
}

int64_t FakeController::put_locked(const json &object, const std::string &type) {
  std::string kind = object.value("kind", std::string());
  const json &meta = object["metadata"];
  std::string ns = cluster(kind) ? "" : meta.value("namespace", std::string("default"));
  Key key{kind, ns, meta.value("name", std::string())};
  json stored = object;
  stored["metadata"]["resourceVersion"] = std::to_string(++revision_);
  if (!stored["metadata"].contains("creationTimestamp")) {
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
    stored["metadata"]["creationTimestamp"] = text;
  }
  bool existed = objects_.count(key) != 0;
  objects_[key] = {stored, revision_};
  hal::v1::WatchEvent event;
  event.set_type(type.empty() ? (existed ? "MODIFIED" : "ADDED") : type);
  *event.mutable_object() = to_proto(key);
  log_.push_back(event);
  changed_.notify_all();
  return revision_;
}

hal::v1::Object FakeController::to_proto(const Key &key) const {
  hal::v1::Object o;
  const auto &[value, rv] = objects_.at(key);
  o.set_kind(std::get<0>(key));
  o.set_namespace_(std::get<1>(key));
  o.set_name(std::get<2>(key));
  o.set_json(value.dump());
  o.set_resource_version(rv);
  return o;
}

std::pair<std::string, hal::v1::VmActionRequest> FakeController::last_action() {
  std::lock_guard lock(mutex_);
  return last_action_;
}

grpc::Status FakeController::Apply(grpc::ServerContext *, const hal::v1::ApplyRequest *request,
                                   hal::v1::ApplyResponse *response) {
  std::vector<json> objects;
  try {
    objects = hal::controller::parse_manifests(request->manifest());
  } catch (const hal::Error &e) {
    return {grpc::StatusCode::INVALID_ARGUMENT, e.what()};
  }
  for (const auto &object : objects) {
    auto errors = hal::controller::validate_object(object);
    if (!errors.empty()) {
      return {grpc::StatusCode::INVALID_ARGUMENT, hal::controller::format_errors(object, errors)};
    }
  }
  std::lock_guard lock(mutex_);
  for (const auto &object : objects) {
    json defaulted = hal::controller::apply_defaults(object);
    std::string kind = defaulted["kind"];
    std::string ns = cluster(kind) ? "" : defaulted["metadata"].value("namespace", "default");
    Key key{kind, ns, defaulted["metadata"]["name"]};
    std::string outcome = "created";
    auto it = objects_.find(key);
    if (it != objects_.end()) {
      outcome = it->second.first["spec"] == defaulted["spec"] ? "unchanged" : "configured";
    }
    if (!request->dry_run() && outcome != "unchanged") {
      if (it != objects_.end()) {
        defaulted["metadata"]["creationTimestamp"] =
            it->second.first["metadata"]["creationTimestamp"];
      }
      put_locked(defaulted, "");
    }
    hal::v1::Object *o = response->add_objects();
    if (objects_.count(key) != 0) {
      *o = to_proto(key);
    } else {
      o->set_kind(kind);
      o->set_json(defaulted.dump());
    }
    response->add_outcomes(outcome);
  }
  return grpc::Status::OK;
}

grpc::Status FakeController::Get(grpc::ServerContext *, const hal::v1::ObjectKey *request,
                                 hal::v1::Object *response) {
  std::string kind = kind_of(request->kind());
  std::string ns =
      cluster(kind) ? "" : (request->namespace_().empty() ? "default" : request->namespace_());
  std::lock_guard lock(mutex_);
  Key key{kind, ns, request->name()};
  if (objects_.count(key) == 0) {
    return {grpc::StatusCode::NOT_FOUND,
            kind + " " + (ns.empty() ? "" : ns + "/") + request->name() + " not found"};
  }
  *response = to_proto(key);
  return grpc::Status::OK;
}

grpc::Status FakeController::List(grpc::ServerContext *, const hal::v1::ListRequest *request,
                                  hal::v1::ListResponse *response) {
  std::string kind = kind_of(request->kind());
  std::lock_guard lock(mutex_);
  for (const auto &[key, value] : objects_) {
    if (std::get<0>(key) != kind) continue;
    if (!request->namespace_().empty() && std::get<1>(key) != request->namespace_()) continue;
    *response->add_objects() = to_proto(key);
  }
  response->set_resource_version(revision_);
  return grpc::Status::OK;
}

grpc::Status FakeController::Watch(grpc::ServerContext *context,
                                   const hal::v1::WatchRequest *request,
                                   grpc::ServerWriter<hal::v1::WatchEvent> *writer) {
  std::string kind = request->kind().empty() ? "" : kind_of(request->kind());
  int64_t since = request->since_resource_version();
  size_t next = 0;
  std::unique_lock lock(mutex_);
  while (!context->IsCancelled() && !stopping_) {
    for (; next < log_.size(); ++next) {
      const auto &event = log_[next];
      const auto &o = event.object();
      if (o.resource_version() <= since) continue;
      if (!kind.empty() && o.kind() != kind) continue;
      if (!request->namespace_().empty() && o.namespace_() != request->namespace_()) continue;
      if (!request->name().empty() && o.name() != request->name()) continue;
      hal::v1::WatchEvent copy = event;
      lock.unlock();
      bool ok = writer->Write(copy);
      lock.lock();
      if (!ok) return grpc::Status::OK;
    }
    changed_.wait_for(lock, std::chrono::milliseconds(50));
  }
  return grpc::Status::OK;
}

grpc::Status FakeController::Delete(grpc::ServerContext *, const hal::v1::ObjectKey *request,
                                    hal::v1::DeleteResponse *response) {
  std::string kind = kind_of(request->kind());
  std::string ns =
      cluster(kind) ? "" : (request->namespace_().empty() ? "default" : request->namespace_());
  std::lock_guard lock(mutex_);
  Key key{kind, ns, request->name()};
  if (objects_.count(key) == 0) {
    return {grpc::StatusCode::NOT_FOUND, kind + " " + ns + "/" + request->name() + " not found"};
  }
  *response->mutable_object() = to_proto(key);
  hal::v1::WatchEvent event;
  event.set_type("DELETED");
  *event.mutable_object() = response->object();
  event.mutable_object()->set_resource_version(++revision_);
  log_.push_back(event);
  objects_.erase(key);
  changed_.notify_all();
  return grpc::Status::OK;
}

grpc::Status FakeController::action(const char *name, const hal::v1::VmActionRequest *request,
                                    hal::v1::Object *response) {
  std::lock_guard lock(mutex_);
  Key key{"VirtualMachine", request->namespace_().empty() ? "default" : request->namespace_(),
          request->name()};
  if (objects_.count(key) == 0) {
    return {grpc::StatusCode::NOT_FOUND, "VirtualMachine " + request->name() + " not found"};
  }
  last_action_ = {name, *request};
  *response = to_proto(key);
  return grpc::Status::OK;
}

grpc::Status FakeController::Start(grpc::ServerContext *, const hal::v1::VmActionRequest *r,
                                   hal::v1::Object *o) {
  return action("start", r, o);
}
grpc::Status FakeController::Stop(grpc::ServerContext *, const hal::v1::VmActionRequest *r,
                                  hal::v1::Object *o) {
  return action("stop", r, o);
}
grpc::Status FakeController::Restart(grpc::ServerContext *, const hal::v1::VmActionRequest *r,
                                     hal::v1::Object *o) {
  return action("restart", r, o);
}
grpc::Status FakeController::Pause(grpc::ServerContext *, const hal::v1::VmActionRequest *r,
                                   hal::v1::Object *o) {
  return action("pause", r, o);
}
grpc::Status FakeController::Unpause(grpc::ServerContext *, const hal::v1::VmActionRequest *r,
                                     hal::v1::Object *o) {
  return action("unpause", r, o);
}

grpc::Status FakeController::Migrate(grpc::ServerContext *, const hal::v1::MigrateRequest *request,
                                     hal::v1::Object *response) {
  std::lock_guard lock(mutex_);
  const std::string ns = request->namespace_().empty() ? "default" : request->namespace_();
  if (objects_.count({"VirtualMachine", ns, request->name()}) == 0) {
    return {grpc::StatusCode::NOT_FOUND, "VirtualMachine " + request->name() + " not found"};
  }
  const std::string name = request->name() + "-migration-" + std::to_string(++migrations_);
  json m = {{"apiVersion", "kubevirt.io/v1"},
            {"kind", "VirtualMachineInstanceMigration"},
            {"metadata", {{"name", name}, {"namespace", ns}}},
            {"spec", {{"vmiName", request->name()}}},
            {"status", {{"phase", "Pending"}}}};
  put_locked(m, "");
  *response = to_proto({"VirtualMachineInstanceMigration", ns, name});
  const std::string target = request->target_node().empty() ? "node-b" : request->target_node();
  threads_.emplace_back([this, m, target]() mutable {
    auto step = [&](const json &status) {
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
      std::lock_guard lock(mutex_);
      if (stopping_) return false;
      m["status"] = status;
      put_locked(m, "");
      return true;
    };
    json state = {{"sourceNode", "node-a"}, {"targetNode", target}};
    for (int percent : {0, 25, 50, 75}) {
      json status = {{"phase", "Running"},
                     {"migrationState", state},
                     {"progress",
                      {{"percent", percent},
                       {"dataProcessedBytes", uint64_t(percent) << 22},
                       {"dataRemainingBytes", uint64_t(100 - percent) << 22}}}};
      if (!step(status)) return;
      if (target == "broken" && percent == 50) {
        step({{"phase", "Failed"},
              {"migrationState", state},
              {"conditions",
               {{{"type", "Failed"},
                 {"status", "True"},
                 {"reason", "TargetRefused"},
                 {"message", "target node refused the incoming VM"}}}}});
        return;
      }
    }
    state["completed"] = true;
    step({{"phase", "Succeeded"}, {"migrationState", state}, {"progress", {{"percent", 100}}}});
  });
  return grpc::Status::OK;
}

grpc::Status FakeController::Drain(grpc::ServerContext *, const hal::v1::DrainRequest *request,
                                   hal::v1::DrainResponse *response) {
  std::lock_guard lock(mutex_);
  if (objects_.count({"Node", "", request->node()}) == 0) {
    return {grpc::StatusCode::NOT_FOUND, "Node " + request->node() + " not found"};
  }
  response->add_skipped("default/pinned: evictionStrategy None");
  return grpc::Status::OK;
}

grpc::Status FakeController::Console(
    grpc::ServerContext *,
    grpc::ServerReaderWriter<hal::v1::ConsoleOutput, hal::v1::ConsoleInput> *stream) {
  hal::v1::ConsoleInput input;
  if (!stream->Read(&input))
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no first message");
  const std::string ns = input.namespace_().empty() ? "default" : input.namespace_();
  {
    std::lock_guard lock(mutex_);
    if (!objects_.count(Key{"VirtualMachineInstance", ns, input.name()}))
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          "VirtualMachineInstance " + ns + "/" + input.name() + " is not running");
  }
  const std::string vm_id = ns + "-" + input.name();
  if (input.name() == "gone")
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "VM '" + vm_id + "' is not on this node");
  hal::v1::ConsoleOutput reply;
  stream->Write(reply);  // Attached.
  reply.set_data("console of " + vm_id + "\n");
  stream->Write(reply);
  while (stream->Read(&input)) {
    reply.set_data("echo: " + input.data());
    if (!stream->Write(reply)) break;
  }
  return grpc::Status::OK;
}

FakeServer::FakeServer() {
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service_);
  server_ = builder.BuildAndStart();
  address_ = "127.0.0.1:" + std::to_string(port);
}

FakeServer::~FakeServer() {
  service_.stop();
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
}

}  // namespace hal::halctl::testing
