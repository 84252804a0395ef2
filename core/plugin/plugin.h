// plugin.h - a loaded, negotiated and validated HAL plugin (hal::Plugin), and the one guarded
// wrapper every call into a plugin's table goes through.
#ifndef HAL_CORE_PLUGIN_PLUGIN_H
#define HAL_CORE_PLUGIN_PLUGIN_H

#include <boost/dll/shared_library.hpp>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/plugin/call_observer.h"
#include "hal/hal.h"
#include "hal/host.hpp"

namespace hal {

/** Writes "plugin entry '<entry>' threw a C++ exception across the C ABI" into `error`. */
void report_escaped_exception(std::string_view entry, hal_error *error) noexcept;

/** "operation 'vm_snapshot' is not supported by backend <name>", for an entry a plugin lacks. */
std::string unsupported_message(std::string_view entry, std::string_view backend_name);

/** Calls `fn()` (a call into a plugin, reported to the PluginCallObserver if one is installed)
 *  and turns any C++ exception escaping it into HAL_INTERNAL with "plugin entry '<entry>' threw
 *  a C++ exception across the C ABI" in `error`. */
template <class Fn>
inline hal_status guarded_call(std::string_view entry, hal_error *error, Fn &&fn) noexcept {
  PluginCallScope call(entry);
  try {
    return std::forward<Fn>(fn)();
  } catch (...) {
    report_escaped_exception(entry, error);
    return HAL_INTERNAL;
  }
}

/** A loaded plugin: its library, validated table, identity and negotiated ABI version.
 *  Immutable once loaded; share it with std::shared_ptr. The library stays mapped while any
 *  Plugin, Backend or Vm referring to it lives. */
class Plugin {
 public:
  /** Loads `library` (a path to a .so), negotiates (offering HAL_ABI_VERSION) and validates the
   *  table and identity. Throws hal::Error with a one-line reason starting "plugin <file>: ". */
  static std::shared_ptr<Plugin> load(const std::filesystem::path &library);

  Plugin(const Plugin &) = delete;
  Plugin &operator=(const Plugin &) = delete;
  ~Plugin();

  /** The identity's "name" (e.g. "mock"). */
  const std::string &name() const noexcept { return name_; }
  /** The identity document as the plugin reported it. */
  const nlohmann::json &identity() const noexcept { return identity_; }
  /** The library path it was loaded from. */
  const std::filesystem::path &path() const noexcept { return path_; }
  /** The version the host offered (HAL_ABI_VERSION). */
  uint32_t offered_version() const noexcept { return offered_; }
  /** The version the plugin answered in its table's abi_version. */
  uint32_t negotiated_version() const noexcept { return table_->abi_version; }
  /** The raw table (valid while this Plugin lives). Prefer entry<>() which honours the size. */
  const hal_backend_table *table() const noexcept { return table_; }
  /** The table's struct_size as the plugin reported it. */
  std::size_t table_size() const noexcept { return table_->struct_size; }

  /** True when entry `name` (e.g. "vm_snapshot") is within the usable table and non-NULL. */
  bool has(std::string_view name) const noexcept;
  /** Every entry of the host's table with whether the plugin provides it, in table order. */
  std::vector<std::pair<std::string, bool>> coverage() const;

  /** The entry `Member` (e.g. &hal_backend_table::vm_snapshot), or nullptr when it is NULL or
   *  lies beyond what the plugin's struct_size and negotiated minor cover. */
  template <auto Member>
  auto entry() const noexcept {
    auto offset = static_cast<std::size_t>(reinterpret_cast<const char *>(&(table_->*Member)) -
                                           reinterpret_cast<const char *>(table_));
    using Fn = std::remove_cvref_t<decltype(table_->*Member)>;
    return offset + sizeof(Fn) <= usable_size_ ? table_->*Member : Fn{nullptr};
  }

  /** The plugin's exported hal_plugin_negotiate, for a host (or a test) that negotiates again
   *  offering another version; the table it answers is not validated by this Plugin. */
  hal_negotiate_fn negotiate_entry() const noexcept { return negotiate_; }

  /** The plugin's free_string, for OwnedString. */
  OwnedString::FreeFn free_fn() const noexcept { return table_->free_string; }

  /** "plugin <file name>" as used to prefix load errors. */
  std::string label() const;

 private:
  Plugin() = default;

  boost::dll::shared_library library_;
  std::filesystem::path path_;
  const hal_backend_table *table_ = nullptr;
  hal_negotiate_fn negotiate_ = nullptr;
  std::size_t usable_size_ = 0;
  uint32_t offered_ = HAL_ABI_VERSION;
  nlohmann::json identity_;
  std::string name_;
};

/** "major.minor" of a packed ABI version. */
std::string version_string(uint32_t version);

/** Calls entry `member` of `plugin` as member(args..., err) through guarded_call; when the
 *  plugin lacks it, answers HAL_UNSUPPORTED with "operation '<member>' is not supported by
 *  backend <name>" in `err` without calling the plugin. */
#define HAL_PLUGIN_CALL(plugin, member, err, ...)                                                  \
  ([&](hal_error *hal_err_) -> hal_status {                                                        \
    auto hal_fn_ = (plugin).entry<&hal_backend_table::member>();                                   \
    if (hal_fn_ == nullptr) {                                                                      \
      ::hal::ErrorBuffer::write(hal_err_, ::hal::unsupported_message(#member, (plugin).name()));   \
      return HAL_UNSUPPORTED;                                                                      \
    }                                                                                              \
    return ::hal::guarded_call(#member, hal_err_, [&] { return hal_fn_(__VA_ARGS__, hal_err_); }); \
  }(err))

}  // namespace hal

#endif  // HAL_CORE_PLUGIN_PLUGIN_H
