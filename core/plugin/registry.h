// registry.h - the registry of plugins a host knows: loaded ones, and disabled ones with the
// reason they were rejected.
#ifndef HAL_CORE_PLUGIN_REGISTRY_H
#define HAL_CORE_PLUGIN_REGISTRY_H

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/plugin/discovery.h"
#include "core/plugin/plugin.h"

namespace hal {

/** One plugin the registry has seen. */
struct PluginRecord {
  std::string name;                      ///< Identity/manifest name ("" if never loaded).
  std::filesystem::path library;         ///< Library path.
  std::filesystem::path manifest;        ///< Manifest path, if found by discovery.
  std::shared_ptr<const Plugin> plugin;  ///< Set when loaded.
  std::string disabled_reason;           ///< Set when disabled.
  /** True when loaded and usable. */
  bool loaded() const noexcept { return plugin != nullptr; }
};

/** Loads plugins by path or by name from a search path; thread-safe. Failures never throw out
 *  of load_all(); load_path()/load() throw hal::Error and record the plugin as disabled. */
class PluginRegistry {
 public:
  /** A registry searching `search_path` for load(name) and load_all(). */
  explicit PluginRegistry(SearchPath search_path = SearchPath::from_env());

  /** Loads the library at `library` (or returns it if already loaded). */
  std::shared_ptr<const Plugin> load_path(const std::filesystem::path &library);
  /** Loads the plugin named `name` from the search path (or returns it if loaded). */
  std::shared_ptr<const Plugin> load(std::string_view name);
  /** Discovers and loads every plugin on the search path; bad manifests and rejected plugins
   *  are recorded as disabled. Returns the number loaded. */
  std::size_t load_all();

  /** The loaded plugin called `name`, or nullptr. */
  std::shared_ptr<const Plugin> find(std::string_view name) const;
  /** Every plugin seen, loaded and disabled, in the order first seen. */
  std::vector<PluginRecord> list() const;
  /** The search path. */
  const SearchPath &search_path() const noexcept { return search_path_; }

 private:
  std::shared_ptr<const Plugin> load_locked(const std::filesystem::path &library,
                                            const Manifest *manifest);
  PluginRecord &record_for(const std::filesystem::path &library);

  SearchPath search_path_;
  mutable std::mutex mu_;
  std::vector<PluginRecord> records_;
};

}  // namespace hal

#endif  // HAL_CORE_PLUGIN_REGISTRY_H
