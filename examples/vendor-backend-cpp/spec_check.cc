// spec_check.cc - memvisor's spec check (see spec_check.h).
#include "spec_check.h"

#include <regex>
#include <string>

#include "hal/plugin.hpp"

namespace memvisor {
namespace {

using hal::plugin::Failure;
using nlohmann::json;

[[noreturn]] void invalid(const std::string &field, const std::string &why) {
  throw Failure(HAL_INVALID_ARGUMENT, "spec." + field + ": " + why);
}

[[noreturn]] void unsupported(const std::string &field, const std::string &why) {
  throw Failure(HAL_UNSUPPORTED, "spec." + field + ": " + why + " (memvisor)");
}

}  // namespace

json check_spec(std::string_view spec_json) {
  json spec = json::parse(spec_json, nullptr, /*allow_exceptions=*/false);
  if (spec.is_discarded()) throw Failure(HAL_INVALID_ARGUMENT, "spec: malformed JSON");
  if (!spec.is_object()) throw Failure(HAL_INVALID_ARGUMENT, "spec: must be a JSON object");
  if (spec.value("apiVersion", json()) != "hal.dev/v1") invalid("apiVersion", "must be hal.dev/v1");
  if (!spec.contains("name") || !spec["name"].is_string() ||
      spec["name"].get<std::string>().empty())
    invalid("name", "must be a non-empty string");

  const json &cpu = spec.value("cpu", json());
  if (!cpu.is_object() || !cpu.contains("vcpus") || !cpu["vcpus"].is_number_integer())
    invalid("cpu.vcpus", "is required and must be an integer");
  const auto vcpus = cpu["vcpus"].get<int64_t>();
  if (vcpus < 1) invalid("cpu.vcpus", "must be at least 1");
  if (vcpus > kMaxVcpus)
    throw Failure(HAL_OUT_OF_RANGE, "spec.cpu.vcpus: " + std::to_string(vcpus) +
                                        " is more than memvisor's limit of " +
                                        std::to_string(kMaxVcpus));
  if (cpu.contains("pinning")) unsupported("cpu.pinning", "vCPUs are not host threads here");

  const json &memory = spec.value("memory", json());
  static const std::regex quantity("^[1-9][0-9]*(Ki|Mi|Gi|Ti)?$");
  if (!memory.is_object() || !memory.contains("size") || !memory["size"].is_string() ||
      !std::regex_match(memory["size"].get<std::string>(), quantity))
    invalid("memory.size", "is required and must be a quantity such as 512Mi");

  if (spec.contains("machine")) unsupported("machine", "there are no machine types");
  if (spec.contains("numa")) unsupported("numa", "there is no NUMA placement");
  if (spec.contains("hostDevices")) unsupported("hostDevices", "there are no host devices");
  if (spec.value("launchSecurity", json::object()).value("type", "none") == "tdx")
    unsupported("launchSecurity", "TDX is not available: memvisor has no TDX module");
  return spec;
}

}  // namespace memvisor
