// real_binary.cc - choosing the real cloud-hypervisor for the real-binary variants (see
// real_binary.h).
#include "backends/cloud-hypervisor/tests/real_binary.h"

#include <cstdlib>

#include "backends/common/resolve_binary.h"
#include "core/host/kvm_host.h"
#include "testing/test_guest.h"

namespace hal::cloud_hypervisor::testing {

std::optional<RealBinary> real_binary(std::string *why) {
  static const std::pair<std::optional<RealBinary>, std::string> decided = [] {
    const char *env = std::getenv("HAL_CH_BINARY");
    if (env == nullptr || *env == 0) {
      return std::make_pair(std::optional<RealBinary>(),
                            std::string("set HAL_CH_BINARY to a cloud-hypervisor binary"));
    }
    RealBinary real;
    real.binary = backend_common::resolve_binary(env);
    if (real.binary.empty()) {
      return std::make_pair(std::optional<RealBinary>(),
                            "HAL_CH_BINARY '" + std::string(env) + "' is not an executable");
    }
    if (std::string refusal = kvm_host_refusal(read_kvm_host_facts("/")); !refusal.empty()) {
      return std::make_pair(std::optional<RealBinary>(),
                            "this host's KVM cannot run a stock guest (kvm: " + refusal + ")");
    }
    std::string guest_why;
    auto guest = hal::testing::test_guest_dir(&guest_why);
    if (!guest) {
      return std::make_pair(std::optional<RealBinary>(), "no test guest: " + guest_why);
    }
    real.guest_dir = *guest;
    return std::make_pair(std::optional<RealBinary>(real), std::string());
  }();
  if (why != nullptr) *why = decided.second;
  return decided.first;
}

}  // namespace hal::cloud_hypervisor::testing
