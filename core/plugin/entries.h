// entries.h - the list of hal_backend_table entries (name, offset, REQUIRED or optional, ABI
// minor that introduced it), from include/hal/table_entries.h, used for validation, coverage
// reports and HAL_UNSUPPORTED answers.
#ifndef HAL_CORE_PLUGIN_ENTRIES_H
#define HAL_CORE_PLUGIN_ENTRIES_H

#include <cstddef>
#include <cstdint>

#include "hal/hal.h"
#include "hal/table_entries.h"

namespace hal {

/** One entry of hal_backend_table. */
struct EntryInfo {
  const char *name;      ///< Member name, e.g. "vm_start".
  std::size_t offset;    ///< offsetof(hal_backend_table, member).
  bool required;         ///< REQUIRED by hal.h.
  uint32_t since_minor;  ///< ABI 1.x minor that added it.
};

#define HAL_ENTRY_INFO(member, required, minor) \
  EntryInfo{#member, offsetof(hal_backend_table, member), (required) != 0, minor},

/** Every entry of the table this host was compiled with, in table order (table_entries.h). */
inline constexpr EntryInfo kTableEntries[] = {HAL_TABLE_ENTRIES(HAL_ENTRY_INFO)};

#undef HAL_ENTRY_INFO

/** True when `kTableEntries` lists the table's function pointers one after another, from the
 *  first after the header fields to the end of the table. */
constexpr bool entries_cover_the_table() {
  std::size_t next = offsetof(hal_backend_table, get_identity);
  for (const EntryInfo &entry : kTableEntries) {
    if (entry.offset != next) return false;
    next += sizeof(void (*)());
  }
  return next == sizeof(hal_backend_table);
}
static_assert(entries_cover_the_table(),
              "include/hal/table_entries.h must list every member of hal_backend_table in order");

/** The table size a plugin claiming ABI 1.`minor` must provide (minors newer than the host's
 *  need at least the host's full table). */
constexpr std::size_t table_size_for_minor(uint32_t minor) noexcept {
  for (const EntryInfo &entry : kTableEntries)
    if (entry.since_minor > minor) return entry.offset;
  return sizeof(hal_backend_table);
}
static_assert(table_size_for_minor(0) == HAL_BACKEND_TABLE_V1_0_SIZE &&
              table_size_for_minor(1) == HAL_BACKEND_TABLE_V1_1_SIZE);

}  // namespace hal

#endif  // HAL_CORE_PLUGIN_ENTRIES_H
