// traced_table.h - the plugin's function table as the clauses that call it raw (NULL pointers,
// unknown flags, exclusive flags) see it: every entry reports its calls to the process's
// PluginCallObserver, so a crash or a hang inside a raw call names its entry like any other.
#ifndef HAL_CONFORMANCE_TRACED_TABLE_H
#define HAL_CONFORMANCE_TRACED_TABLE_H

#include "hal/hal.h"

namespace hal::conformance {

/** The suite plugin's table with each provided entry wrapped in a traced call; entries the
 *  plugin does not provide (NULL, or beyond its struct_size and negotiated minor) are NULL. */
const hal_backend_table &traced_table();

}  // namespace hal::conformance

#endif  // HAL_CONFORMANCE_TRACED_TABLE_H
