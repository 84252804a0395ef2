// json_pointer.h - RFC 6901 JSON pointers over nlohmann::json for the SDK's getters and setters:
// strict parsing, lookup without side effects, and a write slot that creates missing parents.
#ifndef HAL_CORE_SDK_JSON_POINTER_H
#define HAL_CORE_SDK_JSON_POINTER_H

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hal::sdk {

/** Splits a pointer ("" or "/a/b~1c/0") into unescaped tokens ({"a", "b/c", "0"}); nullopt when
 *  it is malformed (does not start with '/', or a '~' not followed by '0' or '1'). */
std::optional<std::vector<std::string>> split_pointer(std::string_view pointer);

/** The value at `tokens`, or nullptr when there is none (a missing member, an index out of
 *  range, "-", or a token into a scalar). */
const nlohmann::json *find_value(const nlohmann::json &root,
                                 const std::vector<std::string> &tokens);

/** The slot to write at `tokens` (non-empty), creating missing parents: an array when the next
 *  token is "-" or an index, else an object. In an array, "-" or the index equal to its size
 *  appends a null element. Returns nullptr and sets `*error` when the path cannot be made. */
nlohmann::json *make_slot(nlohmann::json &root, const std::vector<std::string> &tokens,
                          std::string *error);

}  // namespace hal::sdk

#endif  // HAL_CORE_SDK_JSON_POINTER_H
