// json_schema_validator.h - a compact JSON-Schema (draft 2020-12 subset) validator that reports
// errors with field paths such as `spec.numa.nodes[1].memory`.
//
// Supported keywords: type, properties, required, additionalProperties, items, enum, const,
// minimum, maximum, exclusiveMinimum, exclusiveMaximum, minLength, maxLength, pattern,
// minItems, maxItems, uniqueItems, $ref ("#/..." and "<other>.schema.json#/..."), allOf, anyOf,
// oneOf, and the annotation `errorMessage` (used instead of the generic text when `pattern`
// fails). Other keywords ($schema, $id, title, description, default, ...) are ignored.
#ifndef HAL_CORE_SPEC_JSON_SCHEMA_VALIDATOR_H
#define HAL_CORE_SPEC_JSON_SCHEMA_VALIDATOR_H

#include <functional>
#include <nlohmann/json.hpp>
#include <ostream>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/spec/field_error.h"

namespace hal {

/** Validates instances against one schema document. Thread-safe once constructed. */
class JsonSchemaValidator {
 public:
  /** Finds another schema document by file name ("host-info.schema.json") for cross-document
   *  $ref; returns nullptr when unknown. */
  using Resolver = std::function<const nlohmann::json *(std::string_view document)>;

  /** `schema` must outlive the validator, as must documents returned by `resolver`. */
  explicit JsonSchemaValidator(const nlohmann::json &schema, Resolver resolver = {});

  /** Validates `instance`; error paths start at `root`. At most `max_errors` are reported. */
  std::vector<FieldError> validate(const nlohmann::json &instance, std::string_view root,
                                   size_t max_errors = 100) const;

  /** Where a "$ref" points: the target schema and the document holding it. */
  struct RefTarget {
    const nlohmann::json *schema = nullptr;    ///< nullptr when the reference cannot be resolved.
    const nlohmann::json *document = nullptr;  ///< For "#/..." references inside the target.
  };
  /** Resolves the "$ref" string `ref` of `document`. Schemas do not change under a validator, so
   *  each reference is looked up once and remembered by the address of its string. */
  RefTarget resolve_ref(const nlohmann::json &ref, const nlohmann::json &document) const;

 private:
  const nlohmann::json &schema_;
  Resolver resolver_;
  mutable std::shared_mutex refs_mutex_;
  mutable std::unordered_map<const nlohmann::json *, RefTarget> refs_;
};

/** Appends a member name to a path: `.name`, or `["odd key"]` when not identifier-like. */
std::string append_key(std::string_view path, std::string_view key);

/** Appends an array index to a path: `[3]`. */
std::string append_index(std::string_view path, size_t index);

}  // namespace hal

#endif  // HAL_CORE_SPEC_JSON_SCHEMA_VALIDATOR_H
