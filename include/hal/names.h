/*
 * names.h - the names of HAL's enumerations as they appear in JSON documents (vm_list, vm-info,
 * events) and on the controller's wire, for plugins and hosts alike. Pure C99, header-only; no
 * ABI of its own.
 */
#ifndef HAL_NAMES_H
#define HAL_NAMES_H

#include <string.h>

#include "hal/hal.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The JSON name of a VM state ("Running", ...); "Unknown" for values this header predates. */
static inline const char *hal_vm_state_name(hal_vm_state state) {
  static const char *const names[] = {"Unknown",      "Stopped", "Starting", "Running", "Paused",
                                      "ShuttingDown", "Crashed", "Incoming", "Migrated"};
  return state < sizeof names / sizeof names[0] ? names[state] : "Unknown";
}

/** The VM state a JSON name stands for; HAL_VM_STATE_UNKNOWN for an unknown name or NULL. */
static inline hal_vm_state hal_vm_state_from_name(const char *name) {
  hal_vm_state state;
  for (state = HAL_VM_STATE_STOPPED; name != NULL && state <= HAL_VM_STATE_MIGRATED; state++) {
    if (strcmp(name, hal_vm_state_name(state)) == 0) return state;
  }
  return HAL_VM_STATE_UNKNOWN;
}

/** The name of an event type as hosts show it ("state-changed", "vm-deleted", ...); "unknown"
 *  for values this header predates. */
static inline const char *hal_event_type_name(hal_event_type type) {
  static const char *const names[] = {
      "unknown",       "state-changed",  "migration-progress", "migration-finished",
      "guest-crashed", "guest-rebooted", "device-changed",     "vm-deleted"};
  return type < sizeof names / sizeof names[0] ? names[type] : "unknown";
}

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* HAL_NAMES_H */
