// manifest.cc - parse_manifests: manifest text (YAML stream or JSON) to a flat list of objects.
#include <cctype>
#include <string>

#include "controller/api/kubevirt_api.h"
#include "controller/api/yaml_json.h"
#include "hal/host.hpp"

namespace hal::controller {
namespace {

using nlohmann::json;

// Line (1-based) of byte offset `pos` in `text`.
size_t line_of(std::string_view text, size_t pos) {
  size_t line = 1;
  for (size_t i = 0; i < pos && i < text.size(); ++i) {
    if (text[i] == '\n') ++line;
  }
  return line;
}

bool is_list_kind(const json &doc) {
  if (!doc.is_object() || !doc.contains("kind") || !doc["kind"].is_string()) return false;
  const auto &kind = doc["kind"].get_ref<const std::string &>();
  return kind == "List" || (kind.size() > 4 && kind.ends_with("List"));
}

[[noreturn]] void fail(size_t index, size_t line, const std::string &message) {
  throw Error(HAL_INVALID_ARGUMENT, "document " + std::to_string(index) + " (line " +
                                        std::to_string(line) + "): " + message);
}

// Moves `doc` (an object, a List, or null) into `out`; `depth` bounds nested Lists.
void flatten(json &&doc, size_t index, size_t line, std::vector<json> &out, int depth = 0) {
  if (doc.is_null()) return;
  if (!doc.is_object())
    fail(index, line, "a manifest must be an object, not " + std::string(doc.type_name()));
  if (!is_list_kind(doc)) {
    out.push_back(std::move(doc));
    return;
  }
  if (depth > 4) fail(index, line, "Lists nested too deeply");
  if (!doc.contains("items") || !doc["items"].is_array()) {
    fail(index, line, "items: a " + doc["kind"].get<std::string>() + " needs an items array");
  }
  for (auto &item : doc["items"]) flatten(std::move(item), index, line, out, depth + 1);
}

}  // namespace

std::vector<json> parse_manifests(std::string_view text) {
  std::vector<json> out;
  size_t start = 0;
  while (start < text.size() && std::isspace(static_cast<unsigned char>(text[start]))) ++start;
  if (start < text.size() && (text[start] == '{' || text[start] == '[')) {
    json doc;
    try {
      doc = json::parse(text.begin(), text.end(), nullptr, true, false);
    } catch (const json::parse_error &e) {
      fail(1, line_of(text, e.byte == 0 ? 0 : e.byte - 1),
           std::string("JSON syntax error: ") + e.what());
    }
    if (doc.is_array()) {
      for (auto &item : doc) flatten(std::move(item), 1, line_of(text, start), out);
    } else {
      flatten(std::move(doc), 1, line_of(text, start), out);
    }
    return out;
  }
  auto documents = yaml_to_json_documents(text);
  for (size_t i = 0; i < documents.size(); ++i) {
    flatten(std::move(documents[i].value), i + 1, documents[i].line, out);
  }
  return out;
}

}  // namespace hal::controller
