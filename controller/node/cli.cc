// cli.cc - hal-node command line parsing (see cli.h).
#include "controller/node/cli.h"

#include <CLI/CLI.hpp>
#include <iostream>

#include "controller/node/advertised_address.h"
#include "controller/node/node_pool_file.h"
#include "controller/tls/tls_options.h"
#include "core/log/log.h"
#include "hal/host.hpp"

namespace hal::node {
namespace {

CliResult usage_error(const std::string &message) {
  std::cerr << "hal-node: " << message << "\n";
  CliResult result;
  result.exit_code = 2;
  result.error = message;
  return result;
}

}  // namespace

CliResult parse_command_line(const std::vector<std::string> &args) {
  CLI::App app{
      "hal-node: the per-host HAL node agent (serves NodeAgent, registers with "
      "hal-controller)"};
  NodeAgentOptions options;
  std::string pool_file, backend, backend_config, state_dir;
  std::vector<std::string> plugin_path, labels, host_path_roots;
  int64_t heartbeat_ms = options.heartbeat_interval.count();
  int64_t guest_silence_s = options.guest_silence_timeout.count() / 1000;
  app.add_option("--name", options.node_name, "Node name (unique in the cluster)")->required();
  app.add_option("--pool", options.pool, "NodePool this node belongs to");
  app.add_option("--pool-file", pool_file, "NodePool manifest file (YAML/JSON) naming the backend");
  app.add_option("--backend", backend, "Backend plugin name or library path (without --pool-file)");
  app.add_option("--backend-config", backend_config, "Backend configuration JSON object");
  app.add_option("--listen", options.listen, "host:port to serve NodeAgent on (port 0 = pick)")
      ->capture_default_str();
  app.add_option("--advertise", options.advertise,
                 "host[:port] the controller dials to reach this agent (default: the listen "
                 "address; needed with a wildcard --listen)");
  app.add_option("--controller", options.controller, "host:port of hal-controller (NodeRegistry)");
  app.add_option("--state-dir", state_dir,
                 "State root; each backend's stateDir is DIR/<backend> unless its config sets it");
  app.add_option("--plugin-path", plugin_path,
                 "Directory with NAME.hal.json plugin manifests (repeatable; before "
                 "HAL_PLUGIN_PATH)");
  app.add_option("--host-path-root", host_path_roots,
                 "Directory whose files VM specs may name as kernel, initrd, firmware or disk "
                 "(repeatable; default: the pool file's spec.hostPathRoots, else "
                 "/var/lib/hal/images)");
  app.add_option("--label", labels, "Extra node label KEY=VALUE (repeatable)");
  app.add_option("--heartbeat-interval-ms", heartbeat_ms, "Heartbeat interval")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--guest-silence-timeout", guest_silence_s,
                 "Seconds after a VM starts with no serial console output before its VMI says the "
                 "guest is silent (0 = never)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  tls::add_tls_flags(app, options.tls);
  app.add_flag("--allow-insecure-migration", options.allow_insecure_migration,
               "With TLS on: migrate VMs of a backend that cannot use TLS (no "
               "features.migrationTls) in clear text instead of refusing (logged)");
  app.add_option("--bootstrap-token", options.bootstrap_token,
                 "Join with this token (hal-pki token NAME) when --tls-cert does not exist yet; "
                 "the signed certificate and a new key are written to --tls-cert/--tls-key");
  app.add_option("--bootstrap-server", options.bootstrap_server,
                 "host:port of hal-controller's --bootstrap-listen");

  std::vector<const char *> argv;
  for (const std::string &arg : args) argv.push_back(arg.c_str());
  try {
    app.parse(static_cast<int>(argv.size()), const_cast<char **>(argv.data()));
  } catch (const CLI::CallForHelp &) {
    std::cout << app.help();
    return CliResult{};
  } catch (const CLI::ParseError &e) {
    return usage_error(e.what());
  }
  if (auto error = tls::check_tls_options(options.tls, "hal-node")) {
    std::cerr << *error << "\n";
    CliResult result;
    result.exit_code = 2;
    result.error = *error;
    return result;
  }
  if (options.tls.insecure)
    hal::log("node")->warn(
        "--insecure: NodeAgent on {} accepts anyone who reaches it (CreateVm with any spec), and "
        "registration is sent without TLS",
        options.listen);

  try {
    if (!pool_file.empty()) {
      if (options.pool.empty()) return usage_error("--pool-file needs --pool");
      if (!backend.empty()) return usage_error("--backend and --pool-file are exclusive");
      NodePoolBackend pool = load_node_pool(pool_file, options.pool);
      BackendOptions loaded;
      loaded.plugin = pool.plugin;
      loaded.config = pool.config;
      if (!backend_config.empty()) return usage_error("--backend-config needs --backend");
      options.backends.push_back(std::move(loaded));
      for (const auto &[key, value] : pool.node_selector) options.labels[key] = value;
      if (!pool.host_path_roots.empty()) options.host_path_roots = pool.host_path_roots;
    } else {
      if (backend.empty()) return usage_error("one of --pool-file or --backend is required");
      BackendOptions loaded;
      loaded.plugin = backend;
      if (!backend_config.empty()) {
        loaded.config = nlohmann::json::parse(backend_config, nullptr, false);
        if (loaded.config.is_discarded() || !loaded.config.is_object())
          return usage_error("--backend-config: must be a JSON object");
      }
      if (options.pool.empty()) options.pool = loaded.plugin;
      options.backends.push_back(std::move(loaded));
    }
  } catch (const Error &e) {
    return usage_error(e.what());
  }
  for (const std::string &label : labels) {
    auto eq = label.find('=');
    if (eq == std::string::npos || eq == 0)
      return usage_error("--label: expected KEY=VALUE, got '" + label + "'");
    options.labels[label.substr(0, eq)] = label.substr(eq + 1);
  }
  try {
    advertised_address(options.listen, options.advertise, 1);  // Checks its form now.
  } catch (const Error &e) {
    return usage_error(e.what());
  }
  options.state_dir = state_dir;
  for (const std::string &dir : plugin_path) options.plugin_path.emplace_back(dir);
  if (!host_path_roots.empty()) {
    options.host_path_roots.clear();
    for (const std::string &dir : host_path_roots) {
      if (!std::filesystem::path(dir).is_absolute())
        return usage_error("--host-path-root: '" + dir + "' must be an absolute path");
      options.host_path_roots.emplace_back(dir);
    }
  }
  options.heartbeat_interval = std::chrono::milliseconds(heartbeat_ms);
  options.guest_silence_timeout = std::chrono::seconds(guest_silence_s);
  CliResult result;
  result.options = std::move(options);
  return result;
}

}  // namespace hal::node
