// discovery.h - finding plugins: a search path of directories (plus HAL_PLUGIN_PATH) holding
// manifests NAME.hal.json next to the plugin libraries they describe.
#ifndef HAL_CORE_PLUGIN_DISCOVERY_H
#define HAL_CORE_PLUGIN_DISCOVERY_H

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace hal {

/** A parsed manifest: {"name","library","abi":{"major"},"description"}. */
struct Manifest {
  std::string name;                     ///< Plugin name (equals NAME in NAME.hal.json).
  std::filesystem::path library;        ///< Absolute path of the library (resolved, exists).
  uint32_t abi_major = 0;               ///< abi.major.
  std::string description;              ///< Optional description.
  std::filesystem::path manifest_path;  ///< Where the manifest was read.
};

/** A manifest that could not be used, with a one-line reason. */
struct ManifestProblem {
  std::filesystem::path manifest_path;  ///< The offending manifest.
  std::string reason;                   ///< Why, e.g. "library 'libx.so' not found".
};

/** What a scan of the search path found. */
struct DiscoveryResult {
  std::vector<Manifest> plugins;          ///< Usable manifests, first-found wins per name.
  std::vector<ManifestProblem> problems;  ///< Bad manifests (never fatal).
};

/** Parses one manifest file; throws std::runtime_error with a one-line reason. */
Manifest parse_manifest(const std::filesystem::path &manifest);

/** An ordered list of directories searched for NAME.hal.json manifests. */
class SearchPath {
 public:
  SearchPath() = default;
  /** The given directories, in order. */
  explicit SearchPath(std::vector<std::filesystem::path> dirs) : dirs_(std::move(dirs)) {}
  /** The directories of env HAL_PLUGIN_PATH (colon-separated) first, then `defaults`. */
  static SearchPath from_env(std::vector<std::filesystem::path> defaults = {});

  /** Appends a directory. */
  void add(std::filesystem::path dir) { dirs_.push_back(std::move(dir)); }
  /** The directories, in search order. */
  const std::vector<std::filesystem::path> &dirs() const noexcept { return dirs_; }

  /** Scans every directory (missing ones are skipped). */
  DiscoveryResult discover() const;

 private:
  std::vector<std::filesystem::path> dirs_;
};

}  // namespace hal

#endif  // HAL_CORE_PLUGIN_DISCOVERY_H
