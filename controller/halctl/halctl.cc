// halctl.cc - halctl's command line: CLI11 parsing and the commands (apply, get, describe,
// delete, start/stop/restart/pause/unpause, migrate, console, drain, validate, version).
#include "controller/halctl/halctl.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

#include "controller/api/kubevirt_api.h"
#include "controller/api/object_limits.h"
#include "controller/api/rbac_api.h"
#include "controller/halctl/client.h"
#include "controller/halctl/config.h"
#include "controller/halctl/config_command.h"
#include "controller/halctl/output.h"
#include "controller/halctl/transport_error.h"
#include "controller/tls/credentials.h"
#include "hal/hal.h"
#include "hal/host.hpp"

namespace hal::halctl {

using nlohmann::json;

namespace {

constexpr const char *kVersion = "0.1.0";

struct Options {
  ConnectionFlags connection;
  std::string ns = "default";
  bool all_namespaces = false;
  std::string file;
  bool dry_run = false;
  std::string kind;
  std::string name;
  std::string output;
  bool force = false;
  int grace_period = -1;
  std::string target_node;
  bool wait = false;
  double timeout_s = 0;
  bool cordon_only = false;
  bool uncordon = false;
};

std::optional<std::string> read_input(const std::string &file, Io &io) {
  std::stringstream ss;
  if (file == "-") {
    ss << io.in.rdbuf();
    return ss.str();
  }
  std::ifstream in(file);
  if (!in) {
    io.err << "error: cannot read " << file << "\n";
    return std::nullopt;
  }
  ss << in.rdbuf();
  return ss.str();
}

json parse_object(const hal::v1::Object &object) {
  try {
    return json::parse(object.json());
  } catch (const json::exception &) {
    return {{"kind", object.kind()},
            {"metadata", {{"name", object.name()}, {"namespace", object.namespace_()}}}};
  }
}

std::vector<json> parse_objects(const google::protobuf::RepeatedPtrField<hal::v1::Object> &list) {
  std::vector<json> out;
  for (const auto &o : list) out.push_back(parse_object(o));
  return out;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

int cmd_validate(const Options &o, Io &io) {
  auto text = read_input(o.file, io);
  if (!text) return 1;
  std::vector<json> objects;
  try {
    objects = hal::controller::parse_manifests(*text);
  } catch (const hal::Error &e) {
    io.out << "error: " << o.file << ": " << e.what() << "\n";
    return 1;
  }
  if (objects.empty()) {
    io.out << "error: " << o.file << ": no objects\n";
    return 1;
  }
  bool invalid = false;
  for (const auto &object : objects) {
    auto errors = hal::controller::validate_object(object);
    if (errors.empty())  // with the controller's default limits
      errors = hal::controller::check_object_limits(object, object.dump().size(), {});
    if (errors.empty()) {
      io.out << object_ref(object) << " valid\n";
    } else {
      invalid = true;
      io.out << hal::controller::format_errors(object, errors) << "\n";
    }
  }
  return invalid ? 1 : 0;
}

int cmd_apply(ControllerClient &client, const Options &o, Io &io) {
  auto text = read_input(o.file, io);
  if (!text) return 1;
  auto response = client.apply(*text, o.dry_run);
  for (int i = 0; i < response.objects_size(); ++i) {
    json object = parse_object(response.objects(i));
    std::string outcome = i < response.outcomes_size() ? response.outcomes(i) : "applied";
    io.out << object_ref(object) << " " << outcome << (o.dry_run ? " (dry run)" : "") << "\n";
  }
  return 0;
}

int cmd_get(ControllerClient &client, const std::string &kind, const Options &o, Io &io) {
  Format format;
  if (!parse_format(o.output, format)) {
    io.err << "error: unknown output format \"" << o.output << "\" (yaml, json, wide)\n";
    return 2;
  }
  const std::string ns =
      hal::controller::is_cluster_scoped_kind(kind) ? "" : (o.all_namespaces ? "" : o.ns);
  std::vector<json> objects;
  const bool single = !o.name.empty();
  if (single) {
    objects.push_back(parse_object(client.get(kind, ns, o.name)));
  } else {
    objects = parse_objects(client.list(kind, ns).objects());
  }
  if (format == Format::kYaml || format == Format::kJson) {
    io.out << format_document(objects, single, format);
    return 0;
  }
  if (objects.empty()) {
    if (ns.empty()) {
      io.err << "No resources found\n";
    } else {
      io.err << "No resources found in " << ns << " namespace.\n";
    }
    return 0;
  }
  TableContext context;
  try {
    if (kind == "NodePool") context.nodes = parse_objects(client.list("Node", "").objects());
    if (kind == "Node") {
      context.vmis = parse_objects(client.list("VirtualMachineInstance", "").objects());
    }
  } catch (const ServerError &) {
    // The counts stay 0; the table itself is still right.
  }
  io.out << format_table(kind, objects, format == Format::kWide, context);
  return 0;
}

int cmd_describe(ControllerClient &client, const std::string &kind, const Options &o, Io &io) {
  const std::string ns = hal::controller::is_cluster_scoped_kind(kind) ? "" : o.ns;
  json object = parse_object(client.get(kind, ns, o.name));
  std::vector<json> events;
  // A namespaced object's events are in its namespace, which is what a user bound there may
  // list; a cluster-scoped object's are wherever the controller put them.
  try {
    events = parse_objects(client.list("Event", ns).objects());
  } catch (const ServerError &) {
  }
  io.out << format_describe(object, events, std::chrono::system_clock::now());
  return 0;
}

int cmd_delete(ControllerClient &client, const std::string &kind, const Options &o, Io &io) {
  const std::string ns = hal::controller::is_cluster_scoped_kind(kind) ? "" : o.ns;
  client.remove(kind, ns, o.name);
  io.out << lower(kind) << " \"" << o.name << "\" deleted\n";
  return 0;
}

int cmd_action(ControllerClient &client, const std::string &action, const Options &o, Io &io) {
  hal::v1::VmActionRequest request;
  request.set_namespace_(o.ns);
  request.set_name(o.name);
  request.set_force(o.force);
  if (o.grace_period >= 0) request.set_grace_period_s(static_cast<uint32_t>(o.grace_period));
  client.vm_action(action, request);
  const bool vmi = action == "pause" || action == "unpause";
  io.out << (vmi ? "VMI " : "VM ") << o.name << " was scheduled to " << action << "\n";
  return 0;
}

bool terminal(const json &migration) {
  const json *phase = nullptr;
  if (migration.contains("status") && migration["status"].is_object() &&
      migration["status"].contains("phase")) {
    phase = &migration["status"]["phase"];
  }
  return phase != nullptr && (*phase == "Succeeded" || *phase == "Failed");
}

std::string failure_reason(const json &migration) {
  const json status = migration.value("status", json::object());
  if (status.contains("conditions") && status["conditions"].is_array()) {
    for (auto it = status["conditions"].rbegin(); it != status["conditions"].rend(); ++it) {
      if (it->is_object() && it->contains("message") && (*it)["message"].is_string() &&
          !(*it)["message"].get<std::string>().empty()) {
        return (*it)["message"].get<std::string>();
      }
    }
  }
  return "phase Failed";
}

// How long one watch of a migration wait lasts before the object is re-read and watched again.
constexpr std::chrono::seconds kWatchResync{10};

// Follows a migration until it succeeds (0) or fails (1), showing its progress.
int wait_migration(ControllerClient &client, json migration, int64_t resource_version,
                   const Options &o, Io &io) {
  const std::string name = migration["metadata"].value("name", std::string());
  const std::string ns = migration["metadata"].value("namespace", o.ns);
  std::string last;
  auto show = [&](const json &m) {
    if (io.out_is_tty) {
      io.out << "\r" << format_progress(m, true) << "\x1b[K" << std::flush;
    } else {
      std::string line = format_progress(m, false);
      if (line != last) io.out << name << ": " << line << "\n" << std::flush;
      last = line;
    }
  };
  const auto deadline =
      o.timeout_s > 0 ? std::chrono::system_clock::now() +
                            std::chrono::milliseconds(static_cast<int64_t>(o.timeout_s * 1000))
                      : std::chrono::system_clock::now() + std::chrono::hours(24 * 365);
  show(migration);
  bool deleted = false;
  while (!terminal(migration) && !deleted) {
    hal::v1::WatchRequest request;
    request.set_kind("VirtualMachineInstanceMigration");
    request.set_namespace_(ns);
    request.set_name(name);
    request.set_since_resource_version(resource_version);
    // Each watch is cut after kWatchResync (then re-read and resumed from resource_version), so
    // a stalled stream cannot hang the wait; only the caller's own deadline ends it.
    const auto slice = std::min(deadline, std::chrono::system_clock::now() + kWatchResync);
    try {
      client.watch(
          request,
          [&](const hal::v1::WatchEvent &event) {
            resource_version = std::max(resource_version, event.object().resource_version());
            if (event.type() == "DELETED") {
              deleted = true;
              return false;
            }
            migration = parse_object(event.object());
            show(migration);
            return !terminal(migration);
          },
          slice);
    } catch (const ServerError &e) {
      if (e.code() != "DEADLINE_EXCEEDED" || slice >= deadline) throw;
    }
    if (!terminal(migration) && !deleted) {
      // The stream ended early: re-read the object, then watch again.
      auto object = client.get("VirtualMachineInstanceMigration", ns, name);
      resource_version = std::max(resource_version, object.resource_version());
      migration = parse_object(object);
      show(migration);
    }
  }
  if (io.out_is_tty) io.out << "\n";
  if (deleted) {
    io.err << "Error: migration " << name << " was deleted before it finished\n";
    return 1;
  }
  const json state = migration["status"].value("migrationState", json::object());
  if (migration["status"]["phase"] == "Succeeded") {
    io.out << "migration " << name << " succeeded: " << state.value("sourceNode", std::string("?"))
           << " -> " << state.value("targetNode", std::string("?")) << "\n";
    return 0;
  }
  io.err << "Error: migration " << name << " failed: " << failure_reason(migration) << "\n";
  return 1;
}

int cmd_migrate(ControllerClient &client, const Options &o, Io &io) {
  auto object = client.migrate(o.ns, o.name, o.target_node);
  json migration = parse_object(object);
  io.out << "VM " << o.name << " was scheduled to migrate (" << object_ref(migration) << ")\n";
  if (!o.wait) return 0;
  return wait_migration(client, migration, object.resource_version(), o, io);
}

int cmd_drain(ControllerClient &client, const Options &o, Io &io) {
  if (o.cordon_only && o.uncordon) {
    io.err << "error: --cordon-only and --uncordon are mutually exclusive\n";
    return 2;
  }
  hal::v1::DrainRequest request;
  request.set_node(o.name);
  request.set_cordon_only(o.cordon_only);
  request.set_uncordon(o.uncordon);
  auto response = client.drain(request);
  if (o.uncordon) {
    io.out << "node/" << o.name << " uncordoned\n";
    return 0;
  }
  io.out << "node/" << o.name << " cordoned\n";
  if (o.cordon_only) return 0;
  for (const auto &skipped : response.skipped()) io.out << "skipped " << skipped << "\n";
  for (const auto &m : response.migrations()) {
    io.out << "evicting " << object_ref(parse_object(m)) << "\n";
  }
  int rc = 0;
  if (o.wait) {
    for (const auto &m : response.migrations()) {
      if (wait_migration(client, parse_object(m), m.resource_version(), o, io) != 0) rc = 1;
    }
  }
  io.out << "node/" << o.name << (o.wait ? " drained\n" : " draining\n");
  return rc;
}

}  // namespace

int run(const std::vector<std::string> &args, Io &io) {
  Options o;

  CLI::App app{"halctl - operate HAL's controller (KubeVirt-style VMs on HAL node pools)",
               "halctl"};
  app.fallthrough();
  app.require_subcommand(1);
  app.add_option("--config", o.connection.config_file,
                 "Configuration file: clusters, users, contexts (default $HALCONFIG, then "
                 "~/.hal/config)");
  app.add_option("--context", o.connection.context, "Context of the configuration file to use");
  app.add_option("-s,--server", o.connection.server,
                 "hal-controller address (default: the context's, else $HALCTL_SERVER or "
                 "127.0.0.1:7440)");
  app.add_option("-n,--namespace", o.connection.ns,
                 "Namespace (default: the context's, else \"default\")");
  tls::add_tls_flags(app, o.connection.tls);

  auto *apply = app.add_subcommand("apply", "Create or update objects from a manifest");
  apply->add_option("-f,--filename", o.file, "Manifest file (YAML or JSON), - for stdin")
      ->required();
  apply->add_flag("--dry-run", o.dry_run, "Validate on the server without storing");

  auto *get = app.add_subcommand("get", "List objects or show one");
  get->add_option("kind", o.kind,
                  "vm, vmi, vmim, nodes, nodepools, events, roles, clusterroles, rolebindings, "
                  "clusterrolebindings")
      ->required();
  get->add_option("name", o.name, "Object name");
  get->add_option("-o,--output", o.output, "yaml, json or wide");
  get->add_flag("-A,--all-namespaces", o.all_namespaces, "List across all namespaces");

  auto *describe = app.add_subcommand("describe", "Show an object with its conditions and events");
  describe->add_option("kind", o.kind)->required();
  describe->add_option("name", o.name)->required();

  auto *del = app.add_subcommand("delete", "Delete an object");
  del->add_option("kind", o.kind)->required();
  del->add_option("name", o.name)->required();

  std::vector<CLI::App *> actions;
  for (const char *action : {"start", "stop", "restart", "pause", "unpause"}) {
    auto *sub = app.add_subcommand(
        action, std::string("Ask the controller to ") + action + " a VirtualMachine");
    sub->add_option("name", o.name, "VirtualMachine name")->required();
    if (std::string(action) == "stop" || std::string(action) == "restart") {
      sub->add_flag("--force", o.force, "No graceful shutdown");
      sub->add_option("--grace-period", o.grace_period, "Seconds for a graceful shutdown");
    }
    actions.push_back(sub);
  }

  auto *migrate = app.add_subcommand("migrate", "Live-migrate a VirtualMachine");
  migrate->add_option("name", o.name, "VirtualMachine name")->required();
  migrate->add_option("--target-node", o.target_node,
                      "Node to migrate to (else the scheduler "
                      "picks)");
  migrate->add_flag("--wait", o.wait, "Follow the migration with a progress bar until it ends");
  migrate->add_option("--timeout", o.timeout_s, "Give up waiting after this many seconds");

  auto *console = app.add_subcommand("console", "Attach to a VM's serial console (Ctrl-] exits)");
  console->add_option("name", o.name, "VirtualMachine name")->required();
  console->add_option("--timeout", o.timeout_s, "Detach after this many seconds");

  auto *drain = app.add_subcommand("drain", "Cordon a node and live-migrate its VMs away");
  drain->add_option("node", o.name, "Node name")->required();
  drain->add_flag("--cordon-only", o.cordon_only, "Only mark the node unschedulable");
  drain->add_flag("--uncordon", o.uncordon, "Make the node schedulable again");
  drain->add_flag("--wait", o.wait, "Wait for the migrations to finish");
  drain->add_option("--timeout", o.timeout_s, "Give up waiting after this many seconds");

  auto *validate = app.add_subcommand("validate", "Validate manifests locally (no server)");
  validate->add_option("-f,--filename", o.file, "Manifest file, - for stdin")->required();

  auto *version = app.add_subcommand("version", "Print the version");

  std::string config_action;
  auto *config =
      app.add_subcommand("config", "Show or switch contexts of the configuration file (no server)");
  config->add_option("action", config_action, "view, get-contexts, current-context, use-context")
      ->required();
  config->add_option("name", o.name, "Context name (use-context)");

  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError &e) {
    int code = app.exit(e, io.out, io.err);
    return code == 0 ? 0 : 2;
  }

  if (validate->parsed()) return cmd_validate(o, io);
  if (config->parsed())
    return run_config_command(o.connection.config_file, config_action, o.name, io);
  if (version->parsed()) {
    io.out << "halctl version " << kVersion << " (HAL ABI " << HAL_ABI_VERSION_MAJOR << "."
           << HAL_ABI_VERSION_MINOR << ")\n";
    return 0;
  }
  std::string kind;
  if (get->parsed() || describe->parsed() || del->parsed()) {
    auto canonical = hal::controller::canonical_kind(o.kind);
    if (!canonical) {
      io.err << "error: unknown resource type \"" << o.kind
             << "\" (vm, vmi, vmim, nodes, nodepools, events)\n";
      return 2;
    }
    kind = *canonical;
  }
  if (Format format; get->parsed() && !parse_format(o.output, format)) {
    // A usage error, before any configuration or credentials are looked at.
    io.err << "error: unknown output format \"" << o.output << "\" (yaml, json, wide)\n";
    return 2;
  }
  Connection connection;
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  try {
    connection = resolve_connection(o.connection);
    credentials = tls::channel_credentials(connection.tls);
  } catch (const std::exception &e) {  // ConfigError, tls::CredentialsError
    io.err << "error: " << e.what() << "\n";
    return 1;
  }
  o.ns = connection.ns;
  if (console->parsed())
    return run_console(connection.server, credentials, o.ns, o.name, o.timeout_s, io);
  try {
    ControllerClient client(connection.server, credentials);
    if (apply->parsed()) return cmd_apply(client, o, io);
    if (get->parsed()) return cmd_get(client, kind, o, io);
    if (describe->parsed()) return cmd_describe(client, kind, o, io);
    if (del->parsed()) return cmd_delete(client, kind, o, io);
    if (migrate->parsed()) return cmd_migrate(client, o, io);
    if (drain->parsed()) return cmd_drain(client, o, io);
    for (auto *sub : actions) {
      if (sub->parsed()) return cmd_action(client, sub->get_name(), o, io);
    }
  } catch (const ServerError &e) {
    report_server_error(e, connection, io);
    return 1;
  }
  io.err << "error: no command\n";
  return 2;
}

}  // namespace hal::halctl
