// main.cc - hal-inspect: loads a HAL plugin, negotiates and validates it, and prints what it is
// as JSON (identity, ABI versions, table coverage; with --open also capabilities and host info).
// A rejected plugin prints one line "hal-inspect: <reason>" on stderr and exits 1; bad
// arguments exit 2.
#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "core/log/log.h"
#include "core/plugin/backend.h"
#include "core/plugin/plugin.h"

namespace {

constexpr int kExitPlugin = 1;
constexpr int kExitUsage = 2;

int fail(int code, const std::string &reason) {
  std::cerr << "hal-inspect: " << reason << "\n";
  return code;
}

}  // namespace

int main(int argc, char **argv) {
  CLI::App app{"Inspect a HAL plugin: identity, negotiated ABI, table coverage, capabilities"};
  std::string plugin_path;
  std::string config_path;
  bool open = false;
  app.add_option("plugin", plugin_path, "Path to the plugin shared object")->required();
  app.add_option("--config", config_path,
                 "Backend configuration JSON file (implies nothing "
                 "unless --open)");
  app.add_flag("--open", open, "Also open the backend and print capabilities and host info");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp &e) {
    return app.exit(e);
  } catch (const CLI::ParseError &e) {
    app.exit(e);
    return kExitUsage;
  }
  hal::set_log_level(spdlog::level::off);  // stdout is JSON; reasons go to stderr ourselves

  nlohmann::json config = nlohmann::json::object();
  if (!config_path.empty()) {
    std::ifstream in(config_path);
    if (!in) return fail(kExitUsage, "cannot read config file " + config_path);
    config = nlohmann::json::parse(in, nullptr, false);
    if (config.is_discarded() || !config.is_object()) {
      return fail(kExitUsage, "config file " + config_path + " is not a JSON object");
    }
  }

  std::shared_ptr<hal::Plugin> plugin;
  try {
    plugin = hal::Plugin::load(plugin_path);
  } catch (const std::exception &e) {
    return fail(kExitPlugin, e.what());
  }

  nlohmann::ordered_json out;  // keeps table order
  out["identity"] = nlohmann::ordered_json::parse(plugin->identity().dump());
  out["library"] = plugin->path().string();
  out["abi"] = {{"offered", hal::version_string(plugin->offered_version())},
                {"negotiated", hal::version_string(plugin->negotiated_version())}};
  nlohmann::ordered_json entries = nlohmann::ordered_json::object();
  for (const auto &[name, present] : plugin->coverage()) entries[name] = present;
  out["table"] = {{"size", plugin->table_size()}, {"entries", entries}};
  if (open) {
    try {
      auto backend = hal::Backend::open(plugin, config);
      out["capabilities"] = nlohmann::ordered_json::parse(backend.capabilities().dump());
      out["hostInfo"] = nlohmann::ordered_json::parse(backend.host_info().dump());
    } catch (const std::exception &e) {
      return fail(kExitPlugin, e.what());
    }
  } else {
    out["capabilities"] = nullptr;
  }
  std::cout << out.dump(2) << "\n";
  return 0;
}
