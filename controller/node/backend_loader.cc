// backend_loader.cc - plugin lookup and backend opening for hal-node (see backend_loader.h).
#include "controller/node/backend_loader.h"

#include <set>
#include <sstream>

#include "core/log/log.h"
#include "hal/host.hpp"

#ifndef HAL_NODE_BUILD_PLUGIN_DIRS
#define HAL_NODE_BUILD_PLUGIN_DIRS ""
#endif

namespace hal::node {
namespace {

std::vector<std::filesystem::path> split_dirs(const std::string &text) {
  std::vector<std::filesystem::path> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ':'))
    if (!item.empty()) out.emplace_back(item);
  return out;
}

}  // namespace

SearchPath plugin_search_path(const std::vector<std::filesystem::path> &dirs) {
  SearchPath path(dirs);
  const SearchPath rest = SearchPath::from_env(split_dirs(HAL_NODE_BUILD_PLUGIN_DIRS));
  for (const auto &dir : rest.dirs()) path.add(dir);
  return path;
}

std::shared_ptr<const Plugin> load_plugin(const std::string &plugin,
                                          const SearchPath &search_path) {
  if (plugin.empty()) throw Error(HAL_INVALID_ARGUMENT, "backend plugin: required");
  if (plugin.find('/') != std::string::npos) return Plugin::load(plugin);
  DiscoveryResult found = search_path.discover();
  for (const Manifest &manifest : found.plugins) {
    if (manifest.name == plugin) return Plugin::load(manifest.library);
  }
  std::string searched;
  for (const auto &dir : search_path.dirs())
    searched += (searched.empty() ? "" : ":") + dir.string();
  std::string problems;
  for (const ManifestProblem &problem : found.problems)
    problems += "; " + problem.manifest_path.string() + ": " + problem.reason;
  throw Error(HAL_NOT_FOUND, "plugin '" + plugin + "' not found on the plugin path (" +
                                 (searched.empty() ? "empty" : searched) + ")" + problems);
}

nlohmann::json effective_config(const BackendOptions &backend, const std::string &plugin_name,
                                const std::filesystem::path &state_dir) {
  nlohmann::json config = backend.config.is_null() ? nlohmann::json::object() : backend.config;
  if (!config.is_object())
    throw Error(HAL_INVALID_ARGUMENT, "backend " + plugin_name + ": config must be a JSON object");
  if (!state_dir.empty() && !config.contains("stateDir"))
    config["stateDir"] = (state_dir / plugin_name).string();
  return config;
}

std::vector<LoadedBackend> load_backends(const NodeAgentOptions &options) {
  if (options.backends.empty()) throw Error(HAL_INVALID_ARGUMENT, "backends: at least one needed");
  SearchPath search_path = plugin_search_path(options.plugin_path);
  std::vector<LoadedBackend> loaded;
  std::set<std::string> names;
  for (const BackendOptions &wanted : options.backends) {
    try {
      LoadedBackend backend;
      backend.plugin = load_plugin(wanted.plugin, search_path);
      backend.name = backend.plugin->name();
      if (!names.insert(backend.name).second)
        throw Error(HAL_INVALID_ARGUMENT, "loaded twice (one backend per plugin per node)");
      backend.config = effective_config(wanted, backend.name, options.state_dir);
      backend.backend = std::make_unique<Backend>(Backend::open(backend.plugin, backend.config));
      const nlohmann::json capabilities = backend.backend->capabilities();
      hal::log("node")->info(
          "node {}: backend {} open ({}), accelerator {} ({}), config {}", options.node_name,
          backend.name, backend.plugin->path().string(), capabilities.value("accelerator", "?"),
          capabilities.value("acceleratorReason", "no reason given"), backend.config.dump());
      loaded.push_back(std::move(backend));
    } catch (const Error &e) {
      for (LoadedBackend &open : loaded) {
        try {
          open.backend->close(HAL_CLOSE_KEEP_VMS);
        } catch (const std::exception &) {
        }
      }
      throw Error(e.status(), "backend " + wanted.plugin + ": " + e.what());
    }
  }
  return loaded;
}

}  // namespace hal::node
