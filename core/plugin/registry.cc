// registry.cc - the plugin registry.
#include "core/plugin/registry.h"

#include "core/log/log.h"
#include "hal/host.hpp"

namespace hal {

PluginRegistry::PluginRegistry(SearchPath search_path) : search_path_(std::move(search_path)) {}

PluginRecord &PluginRegistry::record_for(const std::filesystem::path &library) {
  for (auto &r : records_) {
    if (r.library == library) return r;
  }
  records_.push_back(PluginRecord{});
  records_.back().library = library;
  return records_.back();
}

std::shared_ptr<const Plugin> PluginRegistry::load_locked(const std::filesystem::path &library,
                                                          const Manifest *manifest) {
  const auto path = std::filesystem::absolute(library).lexically_normal();
  PluginRecord &rec = record_for(path);
  if (manifest != nullptr) {
    rec.manifest = manifest->manifest_path;
    if (rec.name.empty()) rec.name = manifest->name;
  }
  if (rec.plugin) return rec.plugin;
  try {
    rec.plugin = Plugin::load(path);
    rec.name = rec.plugin->name();
    rec.disabled_reason.clear();
    if (manifest != nullptr && manifest->name != rec.name) {
      hal::log("plugin")->warn("plugin {}: manifest name '{}' differs from identity '{}'",
                               path.filename().string(), manifest->name, rec.name);
    }
    return rec.plugin;
  } catch (const Error &e) {
    rec.disabled_reason = e.what();
    hal::log("plugin")->warn("{}", e.what());
    throw;
  }
}

std::shared_ptr<const Plugin> PluginRegistry::load_path(const std::filesystem::path &library) {
  std::lock_guard lock(mu_);
  return load_locked(library, nullptr);
}

std::shared_ptr<const Plugin> PluginRegistry::load(std::string_view name) {
  std::lock_guard lock(mu_);
  for (const auto &r : records_) {
    if (r.plugin && r.name == name) return r.plugin;
  }
  DiscoveryResult found = search_path_.discover();
  for (const auto &m : found.plugins) {
    if (m.name == name) return load_locked(m.library, &m);
  }
  for (const auto &p : found.problems) {
    if (p.manifest_path.filename().string() == std::string(name) + ".hal.json") {
      PluginRecord &rec = record_for(p.manifest_path);
      rec.name = std::string(name);
      rec.manifest = p.manifest_path;
      rec.library.clear();
      rec.disabled_reason = "manifest " + p.manifest_path.string() + ": " + p.reason;
      throw Error(HAL_FAILED_PRECONDITION, rec.disabled_reason);
    }
  }
  throw Error(HAL_NOT_FOUND, "no plugin named '" + std::string(name) + "' in the search path");
}

std::size_t PluginRegistry::load_all() {
  std::lock_guard lock(mu_);
  DiscoveryResult found = search_path_.discover();
  for (const auto &p : found.problems) {
    bool known = false;
    for (const auto &r : records_) known = known || r.manifest == p.manifest_path;
    if (known) continue;
    PluginRecord rec;
    rec.manifest = p.manifest_path;
    rec.disabled_reason = "manifest " + p.manifest_path.string() + ": " + p.reason;
    hal::log("plugin")->warn("{}", rec.disabled_reason);
    records_.push_back(std::move(rec));
  }
  std::size_t loaded = 0;
  for (const auto &m : found.plugins) {
    try {
      load_locked(m.library, &m);
      ++loaded;
    } catch (const Error &) {  // recorded as disabled
    }
  }
  return loaded;
}

std::shared_ptr<const Plugin> PluginRegistry::find(std::string_view name) const {
  std::lock_guard lock(mu_);
  for (const auto &r : records_) {
    if (r.plugin && r.name == name) return r.plugin;
  }
  return nullptr;
}

std::vector<PluginRecord> PluginRegistry::list() const {
  std::lock_guard lock(mu_);
  return records_;
}

}  // namespace hal
