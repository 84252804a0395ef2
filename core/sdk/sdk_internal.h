// sdk_internal.h - what the SDK's C entry points share: the definitions of the opaque
// hal_sdk_doc and hal_sdk_spec, and helpers that turn C++ results and exceptions into
// hal_status codes and hal_error messages without letting an exception cross the C boundary.
#ifndef HAL_CORE_SDK_SDK_INTERNAL_H
#define HAL_CORE_SDK_SDK_INTERNAL_H

#include <exception>
#include <new>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/spec/field_error.h"
#include "core/spec/vm_spec.h"
#include "hal/sdk.h"

/** A JSON document; `failure` remembers the first setter that failed (sticky). */
struct hal_sdk_doc {
  nlohmann::json value = nlohmann::json::object();
  hal_status failed = HAL_OK;
  std::string failure;
};

/** A validated VM spec: the text as written (for the getters) and the typed model. */
struct hal_sdk_spec {
  hal_sdk_doc doc;
  hal::VmSpec model;
};

namespace hal::sdk {

/** Writes `message` into `error` as hal.h asks (size-checked, truncated, NUL-terminated). */
void write_error(hal_error *error, std::string_view message);

/** write_error, then returns `status`. */
inline hal_status fail(hal_error *error, hal_status status, std::string_view message) {
  write_error(error, message);
  return status;
}

/** A malloc()ed copy of `text` (released by hal_sdk_string_free); nullptr when out of memory. */
char *malloc_copy(std::string_view text);

/** Field errors as one line: "path: message; path: message". */
std::string join_errors(const std::vector<FieldError> &errors);

/** Parses JSON text with the host's nesting limit (64). On failure returns false and sets
 *  `*message` ("invalid JSON at byte N: ..."). */
bool parse_json(std::string_view text, nlohmann::json *out, std::string *message);

/** Runs `body` (returning hal_status), mapping exceptions: bad_alloc to RESOURCE_EXHAUSTED,
 *  anything else to INTERNAL with its text. */
template <class Body>
hal_status guarded(hal_error *error, Body &&body) noexcept {
  try {
    return body();
  } catch (const std::bad_alloc &) {
    return fail(error, HAL_RESOURCE_EXHAUSTED, "out of memory");
  } catch (const std::exception &e) {
    return fail(error, HAL_INTERNAL, std::string("HAL SDK internal error: ") + e.what());
  } catch (...) {
    return fail(error, HAL_INTERNAL, "HAL SDK internal error");
  }
}

}  // namespace hal::sdk

#endif  // HAL_CORE_SDK_SDK_INTERNAL_H
