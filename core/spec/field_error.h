// field_error.h - one problem found in a document, named by its field path: what the schema
// validator reports for HAL VM specs and the controller's validators report for manifests.
#ifndef HAL_CORE_SPEC_FIELD_ERROR_H
#define HAL_CORE_SPEC_FIELD_ERROR_H

#include <ostream>
#include <string>

namespace hal {

/** One problem: where (`spec.cpu.vcpus`, `spec.template.spec.volumes[0].dataVolume`) and what
 *  (`must be >= 1`, and when useful what is accepted instead). */
struct FieldError {
  std::string path;     ///< Dotted path with [index]es, rooted at the document.
  std::string message;  ///< What is wrong.
  bool operator==(const FieldError &) const = default;
};

/** Prints "path: message" (used by test frameworks). */
inline std::ostream &operator<<(std::ostream &os, const FieldError &e) {
  return os << e.path << ": " << e.message;
}

}  // namespace hal

#endif  // HAL_CORE_SPEC_FIELD_ERROR_H
