// node_pool_file.h - reads a NodePool (hal.dev/v1) from a manifest file (YAML, possibly several
// documents) minimally with yaml-cpp: spec.backend.plugin, spec.backend.config and
// spec.nodeSelector. hal_controller_api validates NodePools fully; hal-node only needs these.
#ifndef HAL_CONTROLLER_NODE_NODE_POOL_FILE_H
#define HAL_CONTROLLER_NODE_NODE_POOL_FILE_H

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace hal::node {

/** What hal-node takes from a NodePool. */
struct NodePoolBackend {
  std::string pool;                                    ///< metadata.name.
  std::string plugin;                                  ///< spec.backend.plugin.
  nlohmann::json config = nlohmann::json::object();    ///< spec.backend.config ({} if absent).
  std::map<std::string, std::string> node_selector;    ///< spec.nodeSelector.
  std::vector<std::filesystem::path> host_path_roots;  ///< spec.hostPathRoots (may be empty).
};

/** Finds NodePool `pool` in manifest text (YAML or JSON, one or more documents). Throws
 *  hal::Error(HAL_INVALID_ARGUMENT) naming the field (or the pool that is missing). */
NodePoolBackend parse_node_pool(std::string_view text, std::string_view pool);

/** Reads `file` and calls parse_node_pool; the error names the file. */
NodePoolBackend load_node_pool(const std::filesystem::path &file, std::string_view pool);

}  // namespace hal::node

#endif  // HAL_CONTROLLER_NODE_NODE_POOL_FILE_H
