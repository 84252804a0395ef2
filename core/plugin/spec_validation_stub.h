// spec_validation_stub.h - TEMPORARY stand-in for core/spec/vm_spec_validation.h (owned by the
// spec engineer) with exactly its signatures, used only while hal_core_spec is a placeholder.
// Checks just the required fields. Delete once core/spec provides the real validator.
#ifndef HAL_CORE_PLUGIN_SPEC_VALIDATION_STUB_H
#define HAL_CORE_PLUGIN_SPEC_VALIDATION_STUB_H

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace hal {

/** One problem in a spec: the path from "spec" and what is wrong. */
struct FieldError {
  std::string path;
  std::string message;
};

/** Minimal check: an object with apiVersion, name, cpu.vcpus and memory.size. */
inline std::vector<FieldError> validate_vm_spec(const nlohmann::json &spec) {
  std::vector<FieldError> errors;
  if (!spec.is_object()) return {{"spec", "must be an object"}};
  if (!spec.contains("apiVersion") || spec["apiVersion"] != "hal.dev/v1")
    errors.push_back({"spec.apiVersion", "must be \"hal.dev/v1\""});
  if (!spec.contains("name") || !spec["name"].is_string() ||
      spec["name"].get<std::string>().empty())
    errors.push_back({"spec.name", "is required"});
  if (!spec.contains("cpu") || !spec["cpu"].is_object() || !spec["cpu"].contains("vcpus") ||
      !spec["cpu"]["vcpus"].is_number_integer() || spec["cpu"]["vcpus"].get<int64_t>() < 1)
    errors.push_back({"spec.cpu.vcpus", "must be a positive integer"});
  if (!spec.contains("memory") || !spec["memory"].is_object() ||
      !spec["memory"].contains("size"))
    errors.push_back({"spec.memory.size", "is required"});
  return errors;
}

/** "path: message" lines joined with "; ". */
inline std::string format_errors(const std::vector<FieldError> &errors) {
  std::string out;
  for (const auto &e : errors) {
    if (!out.empty()) out += "; ";
    out += e.path + ": " + e.message;
  }
  return out;
}

}  // namespace hal

#endif  // HAL_CORE_PLUGIN_SPEC_VALIDATION_STUB_H
