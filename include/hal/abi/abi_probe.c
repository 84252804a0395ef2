/* abi_probe.c - a shared object whose exported functions reach every type of hal.h, so that
 * abidw can dump the ABI and abidiff can compare it against the committed baseline. */
#include "hal/hal.h"

/* The negotiate entry a plugin exports, with the exact signature of hal_negotiate_fn. */
HAL_PLUGIN_EXPORT hal_status hal_plugin_negotiate(uint32_t host_abi_version, uint32_t flags,
                                                  const hal_backend_table **out_table,
                                                  hal_error *error);

/* Reaches the table, event and callback types. */
HAL_PLUGIN_EXPORT void hal_abi_probe_types(hal_backend_table *table, hal_event *event,
                                           hal_event_fn callback, hal_vm_state state);

hal_status hal_plugin_negotiate(uint32_t host_abi_version, uint32_t flags,
                                const hal_backend_table **out_table, hal_error *error) {
  (void)host_abi_version;
  (void)flags;
  (void)error;
  *out_table = NULL;
  return HAL_UNSUPPORTED;
}

void hal_abi_probe_types(hal_backend_table *table, hal_event *event, hal_event_fn callback,
                         hal_vm_state state) {
  (void)table;
  (void)event;
  (void)callback;
  (void)state;
}
