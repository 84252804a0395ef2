// field_check.h - internal helpers for the kind validators: an error collector, path building,
// "known / rejected / unknown" field checks and typed field accessors. Not part of the API.
#ifndef HAL_CONTROLLER_API_FIELD_CHECK_H
#define HAL_CONTROLLER_API_FIELD_CHECK_H

#include <cstdint>
#include <initializer_list>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "controller/api/kubevirt_api.h"

namespace hal::controller::detail {

/** Collects FieldErrors. */
class Errors {
 public:
  /** Records a problem at `path`. */
  void add(std::string path, std::string message) {
    list_.push_back(FieldError{std::move(path), std::move(message)});
  }
  /** Number of problems so far. */
  size_t size() const { return list_.size(); }
  /** The problems, moved out. */
  std::vector<FieldError> take() { return std::move(list_); }

 private:
  std::vector<FieldError> list_;
};

/** "a.b" from "a" and "b" (or "b" when `base` is empty). */
std::string join(std::string_view base, std::string_view key);
/** "a[3]". */
std::string index(std::string_view base, size_t i);

/** A field HAL knows but cannot honour, with the reason given to the user. */
using Rejections = std::map<std::string, std::string, std::less<>>;

/** Checks that `object` is a JSON object (else records "must be an object" and returns false),
 *  then that each key is in `allowed`; a key in `rejected` is reported with its reason, any other
 *  unknown key as "unknown field". */
bool check_fields(const nlohmann::json &object, std::string_view path,
                  std::initializer_list<std::string_view> allowed, const Rejections &rejected,
                  Errors &errors);

/** Optional string field: nullopt when absent; records a type error when not a string. */
std::optional<std::string> get_string(const nlohmann::json &object, std::string_view key,
                                      std::string_view path, Errors &errors);
/** Optional boolean field. */
std::optional<bool> get_bool(const nlohmann::json &object, std::string_view key,
                             std::string_view path, Errors &errors);
/** Optional integer field within [min, max]. */
std::optional<int64_t> get_int(const nlohmann::json &object, std::string_view key,
                               std::string_view path, int64_t min, int64_t max, Errors &errors);
/** Optional byte quantity (string like "1Gi" or a non-negative integer). */
std::optional<uint64_t> get_bytes(const nlohmann::json &object, std::string_view key,
                                  std::string_view path, Errors &errors);
/** Optional CPU quantity in millicores ("500m", "2", 2, 1.5). */
std::optional<uint64_t> get_millicpu(const nlohmann::json &object, std::string_view key,
                                     std::string_view path, Errors &errors);
/** Checks `object[key]` when present: a map of string to string with valid label keys and
 *  values (`label_values` false: any string values, for annotations). */
void check_string_map(const nlohmann::json &object, std::string_view key, std::string_view path,
                      bool label_values, Errors &errors);

/** True for a DNS-1123 label (lower-case alphanumerics and '-', at most 63 characters). */
bool is_dns_label(std::string_view s);
/** Parses a CPU quantity to millicores ("250m", "1", "1.5"); nullopt when malformed. */
std::optional<uint64_t> parse_millicpu(std::string_view text);

}  // namespace hal::controller::detail

#endif  // HAL_CONTROLLER_API_FIELD_CHECK_H
