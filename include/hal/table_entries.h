/*
 * table_entries.h - every entry of hal_backend_table (hal.h) in table order, as one X-macro list,
 * so that hosts (core/plugin/entries.h) and the plugin helpers (plugin.hpp) never keep their own
 * copies. Pure C99, header-only; no ABI of its own. A new entry is added to hal.h and here; the
 * users check that this list covers the table exactly.
 */
#ifndef HAL_TABLE_ENTRIES_H
#define HAL_TABLE_ENTRIES_H

/**
 * HAL_TABLE_ENTRIES(X) expands X(member, required, since_minor) once per function entry:
 * `member` is the hal_backend_table member, `required` 1 for the entries hal.h marks REQUIRED
 * (0 for optional ones), `since_minor` the ABI 1.x minor that added it.
 */
#define HAL_TABLE_ENTRIES(X)          \
  X(get_identity, 1, 0)               \
  X(free_string, 1, 0)                \
  X(open, 1, 0)                       \
  X(close, 1, 0)                      \
  X(get_capabilities, 1, 0)           \
  X(get_host_info, 1, 0)              \
  X(vm_create, 1, 0)                  \
  X(vm_lookup, 1, 0)                  \
  X(vm_release, 1, 0)                 \
  X(vm_list, 1, 0)                    \
  X(vm_start, 1, 0)                   \
  X(vm_force_stop, 1, 0)              \
  X(vm_delete, 1, 0)                  \
  X(vm_get_state, 1, 0)               \
  X(vm_get_info, 1, 0)                \
  X(vm_pause, 0, 0)                   \
  X(vm_resume, 0, 0)                  \
  X(vm_shutdown, 0, 0)                \
  X(vm_reboot, 0, 0)                  \
  X(vm_reset, 0, 0)                   \
  X(vm_get_console, 0, 0)             \
  X(migration_prepare_incoming, 0, 0) \
  X(migration_send, 0, 0)             \
  X(migration_get_progress, 0, 0)     \
  X(migration_cancel, 0, 0)           \
  X(vm_snapshot, 0, 1)                \
  X(vm_restore, 0, 1)                 \
  X(vm_attach_device, 0, 1)           \
  X(vm_detach_device, 0, 1)

#endif /* HAL_TABLE_ENTRIES_H */
