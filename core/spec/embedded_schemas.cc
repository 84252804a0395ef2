// embedded_schemas.cc - lookup and one-time parsing of the generated schema table.
#include "core/spec/embedded_schemas.h"

#include <algorithm>
#include <map>

namespace hal {
namespace {

constexpr std::string_view kSuffix = ".schema.json";

std::string short_name(std::string_view file_name) {
  if (file_name.size() > kSuffix.size() && file_name.ends_with(kSuffix)) {
    file_name.remove_suffix(kSuffix.size());
  }
  return std::string(file_name);
}

// All schemas parsed once; the map is immutable afterwards, so concurrent reads are safe.
const std::map<std::string, nlohmann::json, std::less<>> &parsed_schemas() {
  static const auto *schemas = [] {
    auto *m = new std::map<std::string, nlohmann::json, std::less<>>();
    for (size_t i = 0; i < detail::kEmbeddedSchemaCount; ++i) {
      (*m)[short_name(detail::kEmbeddedSchemas[i].file_name)] =
          nlohmann::json::parse(detail::kEmbeddedSchemas[i].text);
    }
    return m;
  }();
  return *schemas;
}

}  // namespace

std::optional<std::string_view> embedded_schema_text(std::string_view name) {
  const std::string wanted = short_name(name);
  for (size_t i = 0; i < detail::kEmbeddedSchemaCount; ++i) {
    if (short_name(detail::kEmbeddedSchemas[i].file_name) == wanted) {
      return std::string_view(detail::kEmbeddedSchemas[i].text);
    }
  }
  return std::nullopt;
}

const nlohmann::json *embedded_schema(std::string_view name) {
  const auto &schemas = parsed_schemas();
  auto it = schemas.find(short_name(name));
  return it == schemas.end() ? nullptr : &it->second;
}

std::vector<std::string> embedded_schema_names() {
  std::vector<std::string> names;
  for (const auto &[name, schema] : parsed_schemas()) names.push_back(name);
  return names;
}

}  // namespace hal
