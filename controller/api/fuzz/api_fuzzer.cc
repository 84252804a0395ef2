// api_fuzzer.cc - libFuzzer target over the manifest pipeline: parse_manifests, then for each
// object validate_object, and for valid ones apply_defaults (must stay valid and idempotent),
// to_hal_spec (must pass the core spec validator or throw hal::Error) and resource_request.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "controller/api/kubevirt_api.h"
#include "controller/api/yaml_json.h"
#include "hal/host.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace hal::controller;
  std::vector<nlohmann::json> objects;
  try {
    objects = parse_manifests(std::string_view(reinterpret_cast<const char *>(data), size));
  } catch (const hal::Error &) {
    return 0;
  }
  for (const auto &object : objects) {
    (void)json_to_yaml(object);
    auto errors = validate_object(object);
    (void)format_errors(object, errors);
    if (!errors.empty()) continue;
    auto defaulted = apply_defaults(object);
    if (!validate_object(defaulted).empty()) std::abort();     // defaults broke a valid object
    if (apply_defaults(defaulted) != defaulted) std::abort();  // not idempotent
    const nlohmann::json *spec = nullptr;
    if (defaulted["kind"] == "VirtualMachine") spec = &defaulted["spec"]["template"]["spec"];
    if (defaulted["kind"] == "VirtualMachineInstance") spec = &defaulted["spec"];
    if (spec == nullptr) continue;
    (void)resource_request(*spec);
    TranslationContext context{[](std::string_view image) -> std::optional<std::string> {
                                 if (image == "hal/test-guest")
                                   return std::string("/nonexistent/test-guest");
                                 return std::nullopt;
                               },
                               "default-fuzz"};
    try {
      (void)to_hal_spec(*spec, context);
    } catch (const hal::Error &e) {
      // Unknown images and missing placements are expected; an invalid translation is a bug.
      if (std::string_view(e.what()).find("translated HAL spec is invalid") !=
          std::string_view::npos) {
        std::abort();
      }
    }
  }
  return 0;
}
