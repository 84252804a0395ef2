// api_errors.h - how the emulated VMM words and codes its failures, as Cloud Hypervisor's HTTP
// layer does (vmm/src/api/http, v45.0 to v53.0): a JSON array of the error chain, outermost first
// ("Error from API", the action that failed, the VM error, its causes); 404 only when the VM or
// its config does not exist, 400 for a request the HTTP layer cannot take (wrong method, bad
// body), 500 for everything the VMM refuses or fails at, wrong states included. It never answers
// 405 or 409.
#ifndef HAL_BACKENDS_CLOUD_HYPERVISOR_EMULATOR_API_ERRORS_H
#define HAL_BACKENDS_CLOUD_HYPERVISOR_EMULATOR_API_ERRORS_H

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace hal::ch_emulator {

/** An HTTP answer of the API. */
struct ApiResponse {
  int status = 204;
  std::string body;  // JSON, or empty
};

/** An answer with no body. */
inline const ApiResponse kNoContent{204, ""};

/** The VMM's own words for the VM errors the API reports. */
namespace vm_error {
inline constexpr const char *kNotCreated = "VM is not created";
inline constexpr const char *kMissingConfig = "VM config is missing";
inline constexpr const char *kAlreadyCreated = "VM is already created";
inline constexpr const char *kNotRunning = "VM is not running";
inline constexpr const char *kMigrating = "VM is currently migrating and can't be modified";
inline constexpr const char *kValidation = "Failed to validate config";
}  // namespace vm_error

/** An error of an API action: `status` with the chain "Error from API", `action` (e.g. "The VM
 *  could not boot"), then `causes`. */
inline ApiResponse api_error(int status, const std::string &action,
                             const std::vector<std::string> &causes) {
  std::vector<std::string> chain = {"Error from API", action};
  chain.insert(chain.end(), causes.begin(), causes.end());
  return {status, nlohmann::json(chain).dump()};
}

/** An error of the HTTP layer itself: 400 "Bad Request", 404 "Not Found", or a body that does
 *  not deserialize (400 "Failed to deserialize JSON" and why). */
inline ApiResponse http_error(int status, const std::vector<std::string> &chain) {
  return {status, nlohmann::json(chain).dump()};
}

}  // namespace hal::ch_emulator

#endif  // HAL_BACKENDS_CLOUD_HYPERVISOR_EMULATOR_API_ERRORS_H
