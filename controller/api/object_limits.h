// object_limits.h - how large an API object and an apply request may be: the annotations of an
// object (in total, as Kubernetes bounds them), the whole object as stored (etcd's request
// limit, which bounds a Kubernetes object), one apply request's manifest, and one page of a
// List answer. The controller checks them (hal-controller --max-* flags); halctl validate checks
// the per-object ones with the defaults.
#ifndef HAL_CONTROLLER_API_OBJECT_LIMITS_H
#define HAL_CONTROLLER_API_OBJECT_LIMITS_H

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "controller/api/kubevirt_api.h"

namespace hal::controller {

/** The size limits, in bytes. */
struct ObjectLimits {
  /// Keys plus values of one object's metadata.annotations (and of a VirtualMachine's
  /// spec.template.metadata.annotations): Kubernetes' TotalAnnotationSizeLimitB, 256 KiB.
  size_t annotations_bytes = 256 * 1024;
  /// One object as JSON: etcd's default --max-request-bytes (1.5 MiB), the bound of a
  /// Kubernetes object.
  size_t object_bytes = 1536 * 1024;
  /// One apply request's manifest text (several objects). Checked before it is parsed.
  size_t manifest_bytes = 4 * 1024 * 1024;
  /// One List page's objects (JSON bytes); a page holds at least one object, so a page is at
  /// most this plus one object.
  size_t list_page_bytes = 2 * 1024 * 1024;
};

/** Keys plus values of the string map at `object[key]` (0 when it is absent or not a map). */
size_t string_map_bytes(const nlohmann::json &object, const char *key);

/** The limits `object` breaks: its annotations' total size (metadata.annotations and, for a
 *  VirtualMachine, spec.template.metadata.annotations) and, when `serialized_bytes` (the
 *  object's JSON length) is above limits.object_bytes, the whole object (path ""). */
std::vector<FieldError> check_object_limits(const nlohmann::json &object, size_t serialized_bytes,
                                            const ObjectLimits &limits);

/** "1.5 MiB", "256 KiB", "300 bytes": a byte count for messages. */
std::string format_bytes(size_t bytes);

}  // namespace hal::controller

#endif  // HAL_CONTROLLER_API_OBJECT_LIMITS_H
