// spec_check.h - memvisor's own check of a VM spec (vm-spec.schema.json). Hosts validate specs
// before a plugin sees them, but a plugin is called through the C ABI by anyone and must refuse
// bad input itself (conformance LC-023).
#ifndef MEMVISOR_SPEC_CHECK_H
#define MEMVISOR_SPEC_CHECK_H

#include <nlohmann/json.hpp>
#include <string_view>

namespace memvisor {

/** The most vCPUs one memvisor VM may have (capabilities' limits.maxVcpus). */
inline constexpr int kMaxVcpus = 64;

/** Parses and checks a spec. Throws hal::plugin::Failure: INVALID_ARGUMENT naming the field for
 *  a malformed spec, OUT_OF_RANGE for more vCPUs than kMaxVcpus, UNSUPPORTED naming the field
 *  for what memvisor cannot honour (machine, launchSecurity tdx, NUMA, pinning, host devices). */
nlohmann::json check_spec(std::string_view spec_json);

}  // namespace memvisor

#endif  // MEMVISOR_SPEC_CHECK_H
