// embedded_schemas.h - the JSON schemas of include/hal/schema, compiled into the library so
// validation needs no file at run time.
#ifndef HAL_CORE_SPEC_EMBEDDED_SCHEMAS_H
#define HAL_CORE_SPEC_EMBEDDED_SCHEMAS_H

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hal {

/** Text of an embedded schema, by short name ("vm-spec") or file name ("vm-spec.schema.json"). */
std::optional<std::string_view> embedded_schema_text(std::string_view name);

/** The parsed schema (parsed once, then shared; thread-safe), or nullptr when unknown. */
const nlohmann::json *embedded_schema(std::string_view name);

/** Short names of every embedded schema ("capabilities", "host-info", ...), sorted. */
std::vector<std::string> embedded_schema_names();

namespace detail {
/** One embedded file; the table is generated at build time by embed_schemas.cmake. */
struct EmbeddedSchemaFile {
  const char *file_name;
  const char *text;
};
extern const EmbeddedSchemaFile kEmbeddedSchemas[];
extern const size_t kEmbeddedSchemaCount;
}  // namespace detail

}  // namespace hal

#endif  // HAL_CORE_SPEC_EMBEDDED_SCHEMAS_H
