// bench_direct.cc - the direct C++ virtual-call baseline for plugin_bench.cc, in its own
// translation unit so the compiler cannot devirtualise (or speculatively inline) the call.
#include "core/plugin/bench_direct.h"

namespace hal::bench {
namespace {

class Direct final : public StateSource {
 public:
  hal_status get_state(uint32_t flags, hal_vm_state *out, hal_error *error) override {
    (void)flags;
    (void)error;
    *out = state_;
    return HAL_OK;
  }

 private:
  hal_vm_state state_ = HAL_VM_STATE_RUNNING;
};

}  // namespace

std::unique_ptr<StateSource> make_direct_source() {
  return std::make_unique<Direct>();
}

}  // namespace hal::bench
