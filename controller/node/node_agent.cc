// node_agent.cc - NodeAgent: backends + gRPC server + event hub + registrar (see node_agent.h).
#include "controller/node/node_agent.h"

#include <grpcpp/grpcpp.h>
#include <stdlib.h>

#include <filesystem>
#include <random>
#include <set>

#include "controller/node/advertised_address.h"
#include "controller/node/backend_loader.h"
#include "controller/node/event_hub.h"
#include "controller/node/guest_watch.h"
#include "controller/node/migration_security.h"
#include "controller/node/node_service.h"
#include "controller/node/vm_directory.h"
#include "controller/node/wire.h"
#include "controller/tls/credentials.h"
#include "core/log/log.h"
#include "hal/host.hpp"

#ifndef HAL_NODE_AGENT_VERSION
#define HAL_NODE_AGENT_VERSION "0.0.0"
#endif

namespace hal::node {
namespace {

int64_t random_boot_id() {
  std::random_device device;
  std::mt19937_64 engine((static_cast<uint64_t>(device()) << 32) ^ device() ^
                         static_cast<uint64_t>(now_unix_ms()));
  std::uniform_int_distribution<int64_t> dist(1, INT64_MAX);
  return dist(engine);
}

// A watch reporting silent guests as "guest-console" events on `hub`; each message names the
// node and the accelerator its backend chose (from the backends' `capabilities`).
std::unique_ptr<GuestWatch> make_guest_watch(const NodeAgentOptions &options, VmDirectory &vms,
                                             EventHub &hub, const nlohmann::json &capabilities) {
  auto probe = [&vms](const std::string &vm_id) {
    GuestWatch::Probe probe;
    auto [backend, vm] = vms.open(vm_id);
    const nlohmann::json info = vm.info();
    probe.state = info.value("state", "");
    const nlohmann::json *bytes = info.contains("console") && info["console"].is_object() &&
                                          info["console"].contains("outputBytes")
                                      ? &info["console"]["outputBytes"]
                                      : nullptr;
    if (bytes != nullptr && bytes->is_number_unsigned())
      probe.output_bytes = bytes->get<uint64_t>();
    return probe;
  };
  auto report = [&options, &vms, &hub, capabilities](const std::string &vm_id, bool silent,
                                                     std::chrono::milliseconds silent_for) {
    LoadedBackend *backend = vms.owner(vm_id);
    const std::string name = backend != nullptr ? backend->name : "?";
    const nlohmann::json caps = capabilities.value(name, nlohmann::json::object());
    const std::string where = "on node " + options.node_name + " (backend " + name +
                              ", accelerator " + caps.value("accelerator", "?") + "; " +
                              caps.value("acceleratorReason", "no reason given") + ")";
    const std::string message = silent ? "no serial console output " +
                                             std::to_string(silent_for.count() / 1000) +
                                             " s after the VM started " + where
                                       : "the guest wrote to its serial console " + where;
    hal::log("node")->warn("node {}: VM {}: {}", options.node_name, vm_id, message);
    v1::NodeEvent event;
    event.set_vm_id(vm_id);
    event.set_type("guest-console");
    event.set_state("Running");
    event.set_detail_json(
        nlohmann::json(
            {{"silent", silent}, {"silentForMs", silent_for.count()}, {"message", message}})
            .dump());
    event.set_timestamp_unix_ns(now_unix_ms() * 1000000);
    hub.publish(std::move(event));
  };
  const auto recheck = std::min(options.guest_silence_timeout, std::chrono::milliseconds(5000));
  return std::make_unique<GuestWatch>(options.guest_silence_timeout, recheck, probe, report);
}

// How the agent protects migrations: with TLS, its files laid out in options.migration_tls_dir,
// else <state_dir>/migration-tls, else a new private temporary directory (returned in
// `temporary`, which stop() removes); the backends whose capabilities declare migrationTls.
std::unique_ptr<MigrationSecurity> make_migration_security(const NodeAgentOptions &options,
                                                           const nlohmann::json &capabilities,
                                                           std::filesystem::path &temporary) {
  if (!options.tls.enabled()) return std::make_unique<MigrationSecurity>();
  std::set<std::string> tls_backends;
  for (const auto &[name, caps] : capabilities.items()) {
    const nlohmann::json features = caps.value("features", nlohmann::json::object());
    if (features.value("migrationTls", false)) tls_backends.insert(name);
  }
  std::filesystem::path dir = options.migration_tls_dir;
  if (dir.empty() && !options.state_dir.empty()) dir = options.state_dir / "migration-tls";
  if (dir.empty()) {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "hal-node-migration-tls-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr)
      throw Error(HAL_UNAVAILABLE, "migration TLS: cannot create a temporary directory");
    dir = temporary = pattern;
  }
  for (const auto &[name, caps] : capabilities.items()) {
    if (tls_backends.count(name)) continue;
    if (options.allow_insecure_migration)
      hal::log("node")->warn(
          "backend {} cannot carry migrations over TLS: its VMs migrate in clear text "
          "(--allow-insecure-migration)",
          name);
    else
      hal::log("node")->info(
          "backend {} cannot carry migrations over TLS: its migrations are refused "
          "(--allow-insecure-migration would send them in clear text)",
          name);
  }
  return std::make_unique<MigrationSecurity>(options.tls, dir, std::move(tls_backends),
                                             options.allow_insecure_migration);
}

}  // namespace

std::map<std::string, std::string> node_labels(const NodeAgentOptions &options) {
  std::map<std::string, std::string> labels = options.labels;
  labels["hal.dev/pool"] = options.pool;
  labels["kubernetes.io/hostname"] = options.node_name;
  return labels;
}

// Everything that exists between start() and stop(). Members are destroyed in reverse order:
// registrar, server, service, guest watch, directory, hub, backends.
struct NodeAgent::Running {
  std::vector<LoadedBackend> backends;
  std::vector<Backend::SubscriptionId> subscriptions;
  std::unique_ptr<EventHub> events;
  std::unique_ptr<VmDirectory> vms;
  std::unique_ptr<GuestWatch> guest_watch;  // null when options.guest_silence_timeout is zero
  std::unique_ptr<MigrationSecurity> migration_security;
  std::filesystem::path
      temporary_migration_dir;  // made by start() (no state dir), removed by stop()
  std::atomic<bool> stopping{false};
  std::unique_ptr<NodeAgentService> service;
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<Registrar> registrar;
  int port = 0;
  std::string address;
  int64_t boot_id = 0;
  v1::NodeInfo info;  // static part, built once at start
};

NodeAgent::NodeAgent(NodeAgentOptions options) : options_(std::move(options)) {}

NodeAgent::~NodeAgent() {
  try {
    stop();
  } catch (const std::exception &e) {
    hal::log("node")->error("node {}: stop failed: {}", options_.node_name, e.what());
  }
}

void NodeAgent::start() {
  std::lock_guard lock(mu_);
  if (running_) return;
  if (options_.node_name.empty()) throw Error(HAL_INVALID_ARGUMENT, "name: required");
  if (options_.pool.empty()) throw Error(HAL_INVALID_ARGUMENT, "pool: required");
  advertised_address(options_.listen, options_.advertise, 1);  // Refuses a malformed one now.
  // Checked before any backend opens: a missing, foreign or expired file is named now.
  std::shared_ptr<grpc::ServerCredentials> server_credentials;
  try {
    server_credentials = tls::server_credentials(options_.tls);
  } catch (const tls::CredentialsError &e) {
    throw Error(HAL_INVALID_ARGUMENT, std::string("TLS: ") + e.what());
  }
  // The state dir holds every VM's sockets, logs and specs: owner-only, as each backend's own
  // directory under it is, so other local users cannot even list it.
  if (!options_.state_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(options_.state_dir, ec);
    if (!ec)
      std::filesystem::permissions(options_.state_dir, std::filesystem::perms::owner_all,
                                   std::filesystem::perm_options::replace, ec);
    if (ec)
      throw Error(HAL_INVALID_ARGUMENT,
                  "state-dir " + options_.state_dir.string() + ": " + ec.message());
  }
  auto run = std::make_unique<Running>();
  run->boot_id = random_boot_id();
  run->backends = load_backends(options_);
  run->events =
      std::make_unique<EventHub>(options_.event_replay_capacity, options_.event_queue_capacity);
  run->vms = std::make_unique<VmDirectory>(run->backends);

  // The static part of NodeInfo.
  nlohmann::json capabilities = nlohmann::json::object();
  for (LoadedBackend &backend : run->backends) {
    run->info.add_backends(backend.name);
    capabilities[backend.name] = backend.backend->capabilities();
  }
  if (options_.guest_silence_timeout.count() > 0)
    run->guest_watch = make_guest_watch(options_, *run->vms, *run->events, capabilities);
  run->migration_security =
      make_migration_security(options_, capabilities, run->temporary_migration_dir);

  // Events: sequence them and fan them out; never block the backend's dispatcher.
  for (LoadedBackend &backend : run->backends) {
    EventHub *hub = run->events.get();
    VmDirectory *vms = run->vms.get();
    GuestWatch *watch = run->guest_watch.get();
    const std::string name = backend.name;
    run->subscriptions.push_back(backend.backend->on_event([hub, vms, watch,
                                                            name](const Event &event) {
      v1::NodeEvent out;
      out.set_vm_id(event.vm_id);
      out.set_type(event_type_name(event.type));
      out.set_state(state_name(event.state));
      if (!event.detail.is_null()) out.set_detail_json(event.detail.dump());
      out.set_timestamp_unix_ns(static_cast<int64_t>(event.timestamp_ns));
      if (event.type == HAL_EVENT_STATE_CHANGED)
        vms->touch(event.vm_id, static_cast<int64_t>(event.timestamp_ns / 1000000));
      if (watch != nullptr &&
          (event.type == HAL_EVENT_STATE_CHANGED || event.type == HAL_EVENT_VM_DELETED))
        watch->observe(event.vm_id, event.type == HAL_EVENT_VM_DELETED ? "" : out.state(), name);
      hub->publish(std::move(out));
    }));
  }

  nlohmann::json host = run->backends.front().backend->host_info();
  run->info.set_name(options_.node_name);
  run->info.set_pool(options_.pool);
  run->info.set_capabilities_json(capabilities.dump());
  run->info.set_host_info_json(host.dump());
  run->info.set_labels_json(nlohmann::json(node_labels(options_)).dump());
  run->info.set_agent_version(HAL_NODE_AGENT_VERSION);
  run->info.set_boot_id(run->boot_id);
  run->info.set_allocatable_cpus(host.value("cpus", 0u));
  run->info.set_allocatable_memory_bytes(host.value("memory", uint64_t{0}));

  Running *raw = run.get();
  ServiceContext context;
  context.vms = run->vms.get();
  context.events = run->events.get();
  context.node_info = [raw] { return raw->info; };
  context.stopping = &run->stopping;
  context.migration_listen_uri = migration_listen_uri(options_.listen);
  context.peers = tls::PeerPolicy(options_.tls.enabled());
  context.host_path_roots = options_.host_path_roots;
  context.migration_security = run->migration_security.get();
  run->service = std::make_unique<NodeAgentService>(std::move(context));

  grpc::ServerBuilder builder;
  builder.AddListeningPort(options_.listen, server_credentials, &run->port);
  // Without this gRPC's SO_REUSEPORT lets a second agent bind the same port and take half the
  // controller's connections: the port must be refused instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.RegisterService(run->service.get());
  // Small messages on a near link: bandwidth-probe pings only add writes and wake-ups.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  run->server = builder.BuildAndStart();
  if (!run->server || run->port == 0) {
    for (LoadedBackend &backend : run->backends) backend.backend->close(HAL_CLOSE_KEEP_VMS);
    throw Error(HAL_UNAVAILABLE, "listen: cannot serve on '" + options_.listen + "'");
  }
  run->address = advertised_address(options_.listen, options_.advertise, run->port);
  if (options_.advertise.empty() && is_wildcard_listen(options_.listen) &&
      !options_.controller.empty())
    hal::log("node")->warn(
        "listening on {} but registering {}: only a controller on this host can reach it; "
        "pass --advertise HOST[:PORT]",
        options_.listen, run->address);
  run->info.set_address(run->address);

  if (!options_.controller.empty()) {
    Registrar::Config config;
    config.controller = options_.controller;
    config.node_name = options_.node_name;
    config.boot_id = run->boot_id;
    config.heartbeat_interval = options_.heartbeat_interval;
    config.max_backoff = options_.max_retry_backoff;
    config.registration = [raw] {
      v1::RegisterNodeRequest request;
      *request.mutable_node() = raw->info;
      for (v1::VmStatus &vm : raw->vms->list()) *request.add_vms() = std::move(vm);
      return request;
    };
    config.last_event_sequence = [raw] { return raw->events->last_sequence(); };
    config.credentials = tls::channel_credentials(options_.tls);
    run->registrar = std::make_unique<Registrar>(std::move(config));
    run->registrar->start();
  }
  hal::log("node")->info("node {} (pool {}) serving NodeAgent on {}; {} VMs adopted, boot_id {}",
                         options_.node_name, options_.pool, run->address, run->vms->size(),
                         run->boot_id);
  running_ = std::move(run);
}

void NodeAgent::stop() {
  std::unique_ptr<Running> run;
  {
    std::lock_guard lock(mu_);
    run = std::move(running_);
  }
  if (!run) return;
  if (run->registrar) run->registrar->stop();
  run->stopping = true;
  run->events->close();
  run->server->Shutdown(std::chrono::system_clock::now() + options_.stop_grace);
  run->server->Wait();
  for (std::size_t i = 0; i < run->backends.size(); ++i)
    run->backends[i].backend->unsubscribe(run->subscriptions[i]);
  run->guest_watch.reset();  // its probes call the backends
  for (LoadedBackend &backend : run->backends) {
    try {
      backend.backend->close(HAL_CLOSE_KEEP_VMS);
    } catch (const std::exception &e) {
      hal::log("node")->error("node {}: closing backend {}: {}", options_.node_name, backend.name,
                              e.what());
    }
  }
  if (!run->temporary_migration_dir.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(run->temporary_migration_dir, ec);
  }
  hal::log("node")->info("node {} stopped; VMs left running", options_.node_name);
}

bool NodeAgent::running() const {
  std::lock_guard lock(mu_);
  return running_ != nullptr;
}

std::string NodeAgent::address() const {
  std::lock_guard lock(mu_);
  return running_ ? running_->address : std::string();
}

int NodeAgent::port() const {
  std::lock_guard lock(mu_);
  return running_ ? running_->port : 0;
}

int64_t NodeAgent::boot_id() const {
  std::lock_guard lock(mu_);
  return running_ ? running_->boot_id : 0;
}

v1::NodeInfo NodeAgent::node_info() const {
  std::lock_guard lock(mu_);
  return running_ ? running_->info : v1::NodeInfo();
}

RegistrarStats NodeAgent::registration() const {
  std::lock_guard lock(mu_);
  return running_ && running_->registrar ? running_->registrar->stats() : RegistrarStats{};
}

uint64_t NodeAgent::last_event_sequence() const {
  std::lock_guard lock(mu_);
  return running_ ? running_->events->last_sequence() : 0;
}

std::size_t NodeAgent::event_watchers() const {
  std::lock_guard lock(mu_);
  return running_ ? running_->events->reader_count() : 0;
}

}  // namespace hal::node
