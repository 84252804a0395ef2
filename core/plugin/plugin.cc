// plugin.cc - loading a plugin with Boost.DLL, ABI negotiation and table/identity validation.
#include "core/plugin/plugin.h"

#include <algorithm>
#include <boost/dll/shared_library_load_mode.hpp>
#include <boost/system/system_error.hpp>
#include <cstdio>
#include <cstring>
#include <iterator>

#include "core/log/log.h"
#include "core/plugin/entries.h"

namespace hal {
namespace {

// Reads the function pointer stored at `offset` in `table`.
const void *entry_at(const hal_backend_table *table, std::size_t offset) noexcept {
  void (*fn)(void) = nullptr;
  std::memcpy(&fn, reinterpret_cast<const char *>(table) + offset, sizeof(fn));
  return reinterpret_cast<const void *>(fn);
}

}  // namespace

void report_escaped_exception(std::string_view entry, hal_error *error) noexcept {
  char text[160];
  std::snprintf(text, sizeof(text), "plugin entry '%.*s' threw a C++ exception across the C ABI",
                static_cast<int>(entry.size()), entry.data());
  ErrorBuffer::write(error, text);
  try {
    hal::log("plugin")->error("{}", text);
  } catch (...) {
  }
}

std::string unsupported_message(std::string_view entry, std::string_view backend_name) {
  return "operation '" + std::string(entry) + "' is not supported by backend " +
         std::string(backend_name);
}

std::string version_string(uint32_t version) {
  return std::to_string(HAL_VERSION_MAJOR(version)) + "." +
         std::to_string(HAL_VERSION_MINOR(version));
}

Plugin::~Plugin() = default;

std::string Plugin::label() const {
  return "plugin " + path_.filename().string();
}

bool Plugin::has(std::string_view name) const noexcept {
  for (const auto &e : kTableEntries) {
    if (name == e.name) {
      return e.offset + sizeof(void (*)(void)) <= usable_size_ && entry_at(table_, e.offset);
    }
  }
  return false;
}

std::vector<std::pair<std::string, bool>> Plugin::coverage() const {
  std::vector<std::pair<std::string, bool>> out;
  out.reserve(std::size(kTableEntries));
  for (const auto &e : kTableEntries) out.emplace_back(e.name, has(e.name));
  return out;
}

std::shared_ptr<Plugin> Plugin::load(const std::filesystem::path &library) {
  std::shared_ptr<Plugin> p(new Plugin());
  p->path_ = std::filesystem::absolute(library);
  const std::string label = p->label();
  auto fail = [&](hal_status status, const std::string &reason) -> Error {
    return Error(status, label + ": " + reason);
  };

  std::error_code fs_ec;
  if (!std::filesystem::exists(p->path_, fs_ec)) {
    throw fail(HAL_NOT_FOUND, "library not found: " + p->path_.string());
  }
  try {
    p->library_.load(boost::dll::fs::path(p->path_.string()),
                     boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const std::exception &e) {
    std::string why = e.what();
    // Boost wraps dlerror(): keep only the dlerror text when present.
    auto pos = why.find("dlerror system message: ");
    if (pos != std::string::npos) {
      why = why.substr(pos + 24);
      if (auto end = why.rfind(')'); end != std::string::npos) why.resize(end);
    }
    throw fail(HAL_FAILED_PRECONDITION, "cannot load library: " + why);
  }
  if (!p->library_.has(HAL_PLUGIN_ENTRY_SYMBOL)) {
    throw fail(HAL_FAILED_PRECONDITION,
               "no entry symbol '" HAL_PLUGIN_ENTRY_SYMBOL "' (not a HAL plugin?)");
  }
  auto negotiate =
      p->library_.get<hal_status(uint32_t, uint32_t, const hal_backend_table **, hal_error *)>(
          HAL_PLUGIN_ENTRY_SYMBOL);
  p->negotiate_ = negotiate;

  // Negotiate.
  ErrorBuffer err;
  const hal_backend_table *table = nullptr;
  hal_status st = guarded_call(HAL_PLUGIN_ENTRY_SYMBOL, err.get(), [&] {
    return negotiate(p->offered_, HAL_FLAGS_NONE, &table, err.get());
  });
  if (st != HAL_OK) {
    std::string msg(err.message());
    throw fail(st == HAL_INTERNAL ? HAL_INTERNAL : HAL_FAILED_PRECONDITION,
               std::string(st == HAL_FAILED_PRECONDITION ? "refused negotiation ("
                                                         : "negotiation failed (") +
                   std::string(status_name(st)) + ")" + (msg.empty() ? "" : ": " + msg));
  }
  if (table == nullptr) throw fail(HAL_INTERNAL, "negotiation returned a NULL table");

  // Validate the table.
  const uint32_t version = table->abi_version;
  if (HAL_VERSION_MAJOR(version) != HAL_ABI_VERSION_MAJOR) {
    throw fail(HAL_FAILED_PRECONDITION, "built for HAL ABI " + version_string(version) +
                                            ", host speaks " + version_string(p->offered_));
  }
  const std::size_t size = table->struct_size;
  const uint32_t minor = HAL_VERSION_MINOR(version);
  const std::size_t needed = table_size_for_minor(minor);
  if (size < needed) {
    throw fail(HAL_FAILED_PRECONDITION,
               "table too small: " + std::to_string(size) + " bytes, ABI " +
                   version_string(minor == 0 ? version : HAL_MAKE_VERSION(1, 1)) + " needs " +
                   std::to_string(needed));
  }
  // Read only what both the struct_size and the negotiated minor cover.
  p->table_ = table;
  p->usable_size_ =
      std::min(size, table_size_for_minor(std::min<uint32_t>(minor, HAL_ABI_VERSION_MINOR)));
  for (const auto &e : kTableEntries) {
    if (e.required && entry_at(table, e.offset) == nullptr) {
      throw fail(HAL_FAILED_PRECONDITION, std::string("required entry '") + e.name + "' is NULL");
    }
  }
  if (p->has("migration_send")) {
    for (const char *needed_entry : {"migration_get_progress", "migration_cancel"}) {
      if (!p->has(needed_entry)) {
        throw fail(HAL_FAILED_PRECONDITION, std::string("entry '") + needed_entry +
                                                "' is NULL but migration_send is present");
      }
    }
  }

  // Identity.
  OwnedString json(table->free_string);
  ErrorBuffer ierr;
  st = HAL_PLUGIN_CALL(*p, get_identity, ierr.get(), HAL_FLAGS_NONE, json.out());
  if (st != HAL_OK) {
    std::string msg(ierr.message());
    throw fail(st, "get_identity failed (" + std::string(status_name(st)) + ")" +
                       (msg.empty() ? "" : ": " + msg));
  }
  if (!json) throw fail(HAL_INTERNAL, "get_identity returned NULL");
  try {
    p->identity_ = nlohmann::json::parse(json.view());
  } catch (const std::exception &e) {
    throw fail(HAL_INTERNAL, std::string("identity is not valid JSON: ") + e.what());
  }
  for (const char *key : {"name", "version"}) {
    if (!p->identity_.is_object() || !p->identity_.contains(key) ||
        !p->identity_[key].is_string() || p->identity_[key].get<std::string>().empty()) {
      throw fail(HAL_INTERNAL, std::string("identity lacks a non-empty string '") + key + "'");
    }
  }
  p->name_ = p->identity_["name"].get<std::string>();
  hal::log("plugin")->debug("loaded {} ({} {}, ABI {})", label, p->name_,
                            p->identity_["version"].get<std::string>(), version_string(version));
  return p;
}

}  // namespace hal
