// sdk_spec.cc - hal_sdk_spec: a VM spec parsed and validated by the host's validator
// (core/spec), with the values a backend needs resolved.
#include "core/sdk/sdk_internal.h"
#include "core/spec/vm_spec_validation.h"

extern "C" {

hal_status hal_sdk_spec_parse(const char *json_text, hal_sdk_spec **out, hal_error *error) {
  using hal::sdk::fail;
  if (out != nullptr) *out = nullptr;
  if (json_text == nullptr || out == nullptr) {
    return fail(error, HAL_INVALID_ARGUMENT, "hal_sdk_spec_parse: NULL argument");
  }
  return hal::sdk::guarded(error, [&] {
    auto spec = std::make_unique<hal_sdk_spec>();
    std::string message;
    if (!hal::sdk::parse_json(json_text, &spec->doc.value, &message)) {
      return fail(error, HAL_INVALID_ARGUMENT, "invalid VM spec: spec: " + message);
    }
    // parse_vm_spec runs hal::validate_vm_spec, the check the host makes (hal::Backend::create).
    try {
      spec->model = hal::parse_vm_spec(spec->doc.value);
    } catch (const hal::VmSpecError &e) {
      return fail(error, HAL_INVALID_ARGUMENT,
                  "invalid VM spec: " + hal::sdk::join_errors(e.errors()));
    }
    *out = spec.release();
    return HAL_OK;
  });
}

void hal_sdk_spec_free(hal_sdk_spec *spec) {
  delete spec;
}

const char *hal_sdk_spec_name(const hal_sdk_spec *spec) {
  return spec != nullptr ? spec->model.name.c_str() : nullptr;
}

uint32_t hal_sdk_spec_vcpus(const hal_sdk_spec *spec) {
  return spec != nullptr ? spec->model.cpu.vcpus : 0;
}

uint64_t hal_sdk_spec_memory_bytes(const hal_sdk_spec *spec) {
  return spec != nullptr ? spec->model.memory.size_bytes : 0;
}

const hal_sdk_doc *hal_sdk_spec_doc(const hal_sdk_spec *spec) {
  return spec != nullptr ? &spec->doc : nullptr;
}

char *hal_sdk_spec_effective_json(const hal_sdk_spec *spec) {
  if (spec == nullptr) return nullptr;
  try {
    return hal::sdk::malloc_copy(hal::to_json(spec->model).dump());
  } catch (...) {
    return nullptr;
  }
}

}  // extern "C"
