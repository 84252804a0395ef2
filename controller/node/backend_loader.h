// backend_loader.h - loads the backends a node runs: finds each plugin (by manifest name on the
// plugin search path, or by library path), loads and negotiates it, and opens it with its
// configuration (stateDir defaulting to <state-dir>/<plugin name>). Opening re-adopts the VMs
// the backend finds in its state dir.
#ifndef HAL_CONTROLLER_NODE_BACKEND_LOADER_H
#define HAL_CONTROLLER_NODE_BACKEND_LOADER_H

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "controller/node/agent_options.h"
#include "core/plugin/backend.h"
#include "core/plugin/discovery.h"
#include "core/plugin/plugin.h"

namespace hal::node {

/** One open backend of the node. */
struct LoadedBackend {
  std::string name;                      ///< The plugin's identity name ("mock", "kvm-qemu").
  std::shared_ptr<const Plugin> plugin;  ///< The loaded plugin.
  nlohmann::json config;                 ///< The configuration it was opened with.
  std::unique_ptr<Backend> backend;      ///< The open instance.
};

/** The plugin search path: `dirs` first, then $HAL_PLUGIN_PATH, then the build tree's plugin
 *  directories compiled into the agent (so an uninstalled hal-node finds mock and kvm-qemu). */
SearchPath plugin_search_path(const std::vector<std::filesystem::path> &dirs);

/** Loads the plugin `plugin` (a name looked up on `search_path`, or a path containing '/').
 *  Throws hal::Error(NOT_FOUND or the loader's status) naming the plugin and, for a name, the
 *  directories searched. */
std::shared_ptr<const Plugin> load_plugin(const std::string &plugin, const SearchPath &search_path);

/** The configuration `backend` is opened with: its config plus "stateDir" =
 *  <state_dir>/<plugin_name> when state_dir is set and the config has no stateDir. */
nlohmann::json effective_config(const BackendOptions &backend, const std::string &plugin_name,
                                const std::filesystem::path &state_dir);

/** Loads and opens every backend of `options` in order. Throws hal::Error prefixed with
 *  "backend <plugin>: " on the first failure (backends opened so far are closed, VMs kept). */
std::vector<LoadedBackend> load_backends(const NodeAgentOptions &options);

}  // namespace hal::node

#endif  // HAL_CONTROLLER_NODE_BACKEND_LOADER_H
