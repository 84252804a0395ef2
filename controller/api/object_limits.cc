// object_limits.cc - the object size checks (see object_limits.h).
#include "controller/api/object_limits.h"

#include <cstdio>

namespace hal::controller {

using nlohmann::json;

size_t string_map_bytes(const json &object, const char *key) {
  if (!object.is_object()) return 0;
  auto it = object.find(key);
  if (it == object.end() || !it->is_object()) return 0;
  size_t total = 0;
  for (const auto &[name, value] : it->items()) {
    total += name.size();
    if (value.is_string()) total += value.get_ref<const std::string &>().size();
  }
  return total;
}

std::string format_bytes(size_t bytes) {
  char text[48];
  if (bytes >= 1024 * 1024) {
    std::snprintf(text, sizeof text, "%g MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  } else if (bytes >= 1024 && bytes % 1024 == 0) {
    std::snprintf(text, sizeof text, "%zu KiB", bytes / 1024);
  } else {
    std::snprintf(text, sizeof text, "%zu bytes", bytes);
  }
  return text;
}

std::vector<FieldError> check_object_limits(const json &object, size_t serialized_bytes,
                                            const ObjectLimits &limits) {
  std::vector<FieldError> errors;
  auto check_annotations = [&](const json &metadata, const std::string &path) {
    const size_t bytes = string_map_bytes(metadata, "annotations");
    if (bytes > limits.annotations_bytes) {
      errors.push_back(FieldError{path, "too long: the annotations total " + std::to_string(bytes) +
                                            " bytes (keys and values); at most " +
                                            std::to_string(limits.annotations_bytes) + " (" +
                                            format_bytes(limits.annotations_bytes) +
                                            ") are allowed"});
    }
  };
  if (object.is_object() && object.contains("metadata"))
    check_annotations(object["metadata"], "metadata.annotations");
  const json::json_pointer templ("/spec/template/metadata");
  if (object.is_object() && object.contains(templ))
    check_annotations(object.at(templ), "spec.template.metadata.annotations");
  if (serialized_bytes > limits.object_bytes) {
    errors.push_back(FieldError{"", "too large: the object is " + std::to_string(serialized_bytes) +
                                        " bytes as JSON; at most " +
                                        std::to_string(limits.object_bytes) + " (" +
                                        format_bytes(limits.object_bytes) + ") are allowed"});
  }
  return errors;
}

}  // namespace hal::controller
