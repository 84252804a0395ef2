// yaml_json.h - YAML text <-> nlohmann::json: a streaming YAML (1.2 core schema) to JSON reader
// that reports the document index and line of every problem, and a JSON to YAML emitter (what
// `halctl get -o yaml` prints).
#ifndef HAL_CONTROLLER_API_YAML_JSON_H
#define HAL_CONTROLLER_API_YAML_JSON_H

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace hal::controller {

/** One YAML document converted to JSON, with the 1-based line where it starts. */
struct YamlDocument {
  nlohmann::json value;  ///< null for an empty document.
  size_t line = 1;       ///< Line of the document's first node (1-based).
};

/** Parses every document of a YAML stream. Plain scalars follow the YAML 1.2 core schema (null,
 *  true/false, integers, floats; everything else is a string); quoted scalars are strings;
 *  anchors and aliases are expanded (bounded). Map keys must be scalars and unique. Throws
 *  hal::Error(HAL_INVALID_ARGUMENT) "document N (line L): ..." on any problem. */
std::vector<YamlDocument> yaml_to_json_documents(std::string_view text);

/** Renders a JSON value as a block-style YAML document (strings that would read back as another
 *  type are quoted). Ends with a newline. */
std::string json_to_yaml(const nlohmann::json &value);

}  // namespace hal::controller

#endif  // HAL_CONTROLLER_API_YAML_JSON_H
