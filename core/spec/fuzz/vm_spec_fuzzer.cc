// vm_spec_fuzzer.cc - libFuzzer target: validate_vm_spec_text must never crash, hang or leak,
// and anything it accepts must convert with parse_vm_spec and survive a to_json round trip.
// Inputs that are JSON objects are also merge-patched (RFC 7386) onto a valid NUMA spec, so
// small inputs reach the semantic rules (topology, NUMA partition, pinning, boot, TDX).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "core/spec/vm_spec.h"
#include "core/spec/vm_spec_validation.h"

namespace {

const char kBaseSpec[] = R"({"apiVersion":"hal.dev/v1","name":"base",
  "cpu":{"vcpus":4,"topology":{"sockets":2,"cores":2,"threads":1},
         "pinning":[{"vcpu":0,"hostCpus":[0]},{"vcpu":1,"hostCpus":[1]}]},
  "memory":{"size":"1Gi","hugepages":"2Mi"},
  "numa":{"nodes":[{"id":0,"vcpus":[0,1],"memory":"512Mi","hostNodes":[0]},
                   {"id":1,"vcpus":[2,3],"memory":"512Mi","policy":"preferred"}]},
  "disks":[{"name":"root","path":"/r.img"}],"nics":[{"name":"net0","type":"user"}],
  "hostDevices":[{"name":"gpu0","type":"pci","pciAddress":"0000:3b:00.0","guestNumaNode":1}],
  "boot":{"kernel":"/k","cmdline":"console=ttyS0"},
  "launchSecurity":{"type":"tdx"},"migration":{"postCopy":false}})";

void check(const nlohmann::json &spec, const std::vector<hal::FieldError> &errors) {
  for (const auto &e : errors) {
    if (e.path.rfind("spec", 0) != 0 || e.message.empty()) std::abort();
  }
  (void)hal::format_errors(errors);
  if (errors.empty()) {
    const auto model = hal::parse_vm_spec(spec);
    const auto again = hal::to_json(model);
    if (!hal::validate_vm_spec(again).empty()) std::abort();  // the effective spec stays valid
    if (hal::to_json(hal::parse_vm_spec(again)) != again) std::abort();  // and is a fixed point
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const std::string_view text(reinterpret_cast<const char *>(data), size);
  const auto errors = hal::validate_vm_spec_text(text);
  const bool parsed =
      errors.empty() || errors[0].path != "spec" || errors[0].message.rfind("invalid JSON", 0) != 0;
  if (!parsed) return 0;
  const auto input = nlohmann::json::parse(text);
  check(input, errors);
  if (input.is_object()) {
    static const auto base = nlohmann::json::parse(kBaseSpec);
    auto patched = base;
    patched.merge_patch(input);
    check(patched, hal::validate_vm_spec(patched));
  }
  return 0;
}
