// traced_table.cc - the plugin's table with traced entries (see traced_table.h).
#include "traced_table.h"

#include <algorithm>
#include <cstring>

#include "core/plugin/call_observer.h"
#include "core/plugin/plugin.h"
#include "hal/table_entries.h"
#include "suite.h"

namespace hal::conformance {
namespace {

/** A call of entry `Member` through the plugin's own table, reported to the call observer. */
template <auto Member, typename Fn>
struct Traced;

template <auto Member, typename R, typename... Args>
struct Traced<Member, R (*)(Args...)> {
  static inline const char *name = "";
  static R call(Args... args) {
    PluginCallScope scope(name);
    return (suite().plugin->table()->*Member)(args...);
  }
};

hal_backend_table build() {
  const Plugin &plugin = *suite().plugin;
  hal_backend_table table{};
  std::memcpy(&table, plugin.table(), std::min(sizeof table, plugin.table_size()));
#define HAL_TRACE_ENTRY(member, required, since_minor)                                     \
  if (plugin.entry<&hal_backend_table::member>() != nullptr) {                             \
    using Entry = Traced<&hal_backend_table::member, decltype(hal_backend_table::member)>; \
    Entry::name = #member;                                                                 \
    table.member = &Entry::call;                                                           \
  } else {                                                                                 \
    table.member = nullptr;                                                                \
  }
  HAL_TABLE_ENTRIES(HAL_TRACE_ENTRY)
#undef HAL_TRACE_ENTRY
  return table;
}

}  // namespace

const hal_backend_table &traced_table() {
  static const hal_backend_table table = build();
  return table;
}

}  // namespace hal::conformance
