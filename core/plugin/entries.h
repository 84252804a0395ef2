// entries.h - the list of hal_backend_table entries (name, offset, REQUIRED or optional, ABI
// minor that introduced it), used for validation, coverage reports and HAL_UNSUPPORTED answers.
#ifndef HAL_CORE_PLUGIN_ENTRIES_H
#define HAL_CORE_PLUGIN_ENTRIES_H

#include <array>
#include <cstddef>
#include <cstdint>

#include "hal/hal.h"

namespace hal {

/** One entry of hal_backend_table. */
struct EntryInfo {
  const char *name;      ///< Member name, e.g. "vm_start".
  std::size_t offset;    ///< offsetof(hal_backend_table, member).
  bool required;         ///< REQUIRED by hal.h.
  uint32_t since_minor;  ///< ABI 1.x minor that added it.
};

#define HAL_ENTRY_INFO(member, req, minor)                   \
  EntryInfo {                                                \
#member, offsetof(hal_backend_table, member), req, minor \
  }

/** Every entry of the table this host was compiled with, in table order. */
inline constexpr std::array<EntryInfo, 29> kTableEntries = {
    HAL_ENTRY_INFO(get_identity, true, 0),
    HAL_ENTRY_INFO(free_string, true, 0),
    HAL_ENTRY_INFO(open, true, 0),
    HAL_ENTRY_INFO(close, true, 0),
    HAL_ENTRY_INFO(get_capabilities, true, 0),
    HAL_ENTRY_INFO(get_host_info, true, 0),
    HAL_ENTRY_INFO(vm_create, true, 0),
    HAL_ENTRY_INFO(vm_lookup, true, 0),
    HAL_ENTRY_INFO(vm_release, true, 0),
    HAL_ENTRY_INFO(vm_list, true, 0),
    HAL_ENTRY_INFO(vm_start, true, 0),
    HAL_ENTRY_INFO(vm_force_stop, true, 0),
    HAL_ENTRY_INFO(vm_delete, true, 0),
    HAL_ENTRY_INFO(vm_get_state, true, 0),
    HAL_ENTRY_INFO(vm_get_info, true, 0),
    HAL_ENTRY_INFO(vm_pause, false, 0),
    HAL_ENTRY_INFO(vm_resume, false, 0),
    HAL_ENTRY_INFO(vm_shutdown, false, 0),
    HAL_ENTRY_INFO(vm_reboot, false, 0),
    HAL_ENTRY_INFO(vm_reset, false, 0),
    HAL_ENTRY_INFO(vm_get_console, false, 0),
    HAL_ENTRY_INFO(migration_prepare_incoming, false, 0),
    HAL_ENTRY_INFO(migration_send, false, 0),
    HAL_ENTRY_INFO(migration_get_progress, false, 0),
    HAL_ENTRY_INFO(migration_cancel, false, 0),
    HAL_ENTRY_INFO(vm_snapshot, false, 1),
    HAL_ENTRY_INFO(vm_restore, false, 1),
    HAL_ENTRY_INFO(vm_attach_device, false, 1),
    HAL_ENTRY_INFO(vm_detach_device, false, 1),
};

#undef HAL_ENTRY_INFO

static_assert(sizeof(hal_backend_table) == HAL_BACKEND_TABLE_V1_1_SIZE,
              "kTableEntries must list every member of the table");

/** The table size a plugin claiming ABI 1.`minor` must provide (minors newer than the host's
 *  need at least the host's full table). */
constexpr std::size_t table_size_for_minor(uint32_t minor) noexcept {
  return minor == 0 ? HAL_BACKEND_TABLE_V1_0_SIZE : HAL_BACKEND_TABLE_V1_1_SIZE;
}

}  // namespace hal

#endif  // HAL_CORE_PLUGIN_ENTRIES_H
