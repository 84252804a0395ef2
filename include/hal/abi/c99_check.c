/* c99_check.c - compiles hal.h, names.h and sdk.h as strict C99 (-pedantic -Werror) so the public
 * C headers stay pure C. */
#include "hal/hal.h"
#include "hal/names.h"
#include "hal/sdk.h"

/* Use every type once so the compiler sees them all. */
hal_status hal_c99_check(const hal_backend_table *table, const hal_event *event, hal_error *error);

hal_status hal_c99_check(const hal_backend_table *table, const hal_event *event, hal_error *error) {
  (void)event;
  (void)hal_sdk_version();
  (void)hal_vm_state_from_name(hal_vm_state_name(HAL_VM_STATE_RUNNING));
  if (error != NULL) error->message[0] = '\0';
  return table != NULL && table->struct_size >= HAL_BACKEND_TABLE_V1_0_SIZE ? HAL_OK
                                                                            : HAL_INVALID_ARGUMENT;
}
