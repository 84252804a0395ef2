// resources.cc - resource_request: what the scheduler needs to know about a VMI spec.
#include "controller/api/kubevirt_api.h"
#include "controller/api/vmi_model.h"

namespace hal::controller {

using nlohmann::json;

ResourceRequest resource_request(const json &vmi_spec) {
  ResourceRequest r;
  const json spec = default_vmi_spec(vmi_spec);
  r.vcpus = static_cast<uint32_t>(detail::cpu_topology(spec).vcpus());
  r.memory_bytes = detail::guest_memory(spec).value_or(0);
  const json *dedicated = detail::find_path(spec, {"domain", "cpu", "dedicatedCpuPlacement"});
  r.dedicated_cpus = dedicated != nullptr && dedicated->is_boolean() && dedicated->get<bool>();
  r.needs_numa =
      detail::find_path(spec, {"domain", "cpu", "numa", "guestMappingPassthrough"}) != nullptr;
  r.needs_tdx = detail::find_path(spec, {"domain", "launchSecurity", "tdx"}) != nullptr;
  const json *eviction = detail::find_path(spec, {"evictionStrategy"});
  bool eviction_none = eviction != nullptr && eviction->is_string() && *eviction == "None";
  // A hostDisk that is not marked shared exists on one node only: the VMI cannot move.
  bool local_disk = false;
  if (const json *volumes = detail::find_path(spec, {"volumes"});
      volumes != nullptr && volumes->is_array()) {
    for (const auto &v : *volumes) {
      const json *host = detail::find_path(v, {"hostDisk"});
      if (host == nullptr) continue;
      const json *shared = detail::find_path(*host, {"shared"});
      if (shared == nullptr || !shared->is_boolean() || !shared->get<bool>()) local_disk = true;
    }
  }
  r.live_migratable = !r.needs_tdx && !eviction_none && !local_disk;
  return r;
}

}  // namespace hal::controller
