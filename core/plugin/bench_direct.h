// bench_direct.h - a direct C++ virtual interface doing the same trivial work as the test
// plugin's vm_get_state (read a field through a pointer), the baseline for plugin_bench.cc.
#ifndef HAL_CORE_PLUGIN_BENCH_DIRECT_H
#define HAL_CORE_PLUGIN_BENCH_DIRECT_H

#include <memory>

#include "hal/hal.h"

namespace hal::bench {

/** Returns a VM state, like vm_get_state. */
class StateSource {
 public:
  virtual ~StateSource() = default;
  /** Stores the state in `*out`. */
  virtual hal_status get_state(uint32_t flags, hal_vm_state *out, hal_error *error) = 0;
};

/** An implementation defined in another translation unit. */
std::unique_ptr<StateSource> make_direct_source();

}  // namespace hal::bench

#endif  // HAL_CORE_PLUGIN_BENCH_DIRECT_H
