// vm_spec_validation.h - validation of VM specs (schema + cross-field rules) and of the other
// HAL JSON documents, with errors named by field path (`spec.numa.nodes[1].memory: ...`).
#ifndef HAL_CORE_SPEC_VM_SPEC_VALIDATION_H
#define HAL_CORE_SPEC_VM_SPEC_VALIDATION_H

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/spec/json_schema_validator.h"
#include "core/spec/quantity.h"

namespace hal {

/** Validates a VM spec against vm-spec.schema.json, then (only if that passes) the semantic
 *  rules of docs/vm-spec-shape.md. Paths start at `spec`. Empty = valid. */
std::vector<FieldError> validate_vm_spec(const nlohmann::json &spec);

/** As validate_vm_spec, from JSON text; a parse error is one error at path `spec` naming the
 *  byte position. Nesting deeper than 64 levels is rejected. */
std::vector<FieldError> validate_vm_spec_text(std::string_view text);

/** Validates a document against an embedded schema: "capabilities", "host-info",
 *  "migration-params", "migration-progress", "vm-info" (its `spec` also gets the semantic
 *  checks) or "vm-spec". Paths start at `root`. An unknown schema name is an error at `root`. */
std::vector<FieldError> validate_document(std::string_view schema_name, const nlohmann::json &doc,
                                          std::string_view root);

/** One "path: message" line per error, joined with '\n' (no trailing newline). */
std::string format_errors(const std::vector<FieldError> &errors);

/** Only the cross-field rules, for a spec already known to satisfy the schema. */
std::vector<FieldError> check_vm_spec_semantics(const nlohmann::json &spec,
                                                std::string_view root = "spec");

}  // namespace hal

#endif  // HAL_CORE_SPEC_VM_SPEC_VALIDATION_H
