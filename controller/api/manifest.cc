// manifest.cc - parse_manifests: manifest text (YAML stream or JSON) to a flat list of objects.
#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <string>

#include "controller/api/kubevirt_api.h"
#include "controller/api/utf8.h"
#include "controller/api/yaml_json.h"
#include "hal/host.hpp"

namespace hal::controller {
namespace {

using nlohmann::json;

// Deepest nesting a JSON manifest may have (the YAML reader's bound too).
constexpr int kMaxJsonDepth = 128;

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

// The YAML document (1-based) that line `line` of `text` is in: one more for each "---" line
// before it, except a "---" that opens the text.
size_t document_of(std::string_view text, size_t line) {
  size_t markers = 0, current = 1;
  bool content = false, leading_marker = false;
  for (size_t start = 0; start < text.size() && current < line; ++current) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view row = text.substr(start, end - start);
    if (row.starts_with("---") &&
        (row.size() == 3 || std::isspace(static_cast<unsigned char>(row[3])))) {
      if (!content && markers == 0) leading_marker = true;
      ++markers;
    } else if (!row.empty() && row.front() != '#' &&
               row.find_first_not_of(" \t\r") != std::string_view::npos) {
      content = true;
    }
    start = end + 1;
  }
  return leading_marker ? std::max<size_t>(markers, 1) : markers + 1;
}

// The error for text that is not UTF-8, naming the document and line of the first bad byte.
[[noreturn]] void fail_utf8(std::string_view text, size_t bad) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  std::string why = describe_invalid_utf8(text, bad) + ": a manifest must be UTF-8 text";
  if (text.size() >= 2 &&
      ((byte(0) == 0xFF && byte(1) == 0xFE) || (byte(0) == 0xFE && byte(1) == 0xFF)))
    why += " (this text starts with a UTF-16 byte order mark: save it as UTF-8)";
  const size_t line = line_of(text, bad);
  fail(document_of(text, line), line, why);
}

}  // namespace

std::vector<json> parse_manifests(std::string_view text) {
  if (auto bad = invalid_utf8_offset(text)) fail_utf8(text, *bad);
  std::vector<json> out;
  size_t start = 0;
  while (start < text.size() && std::isspace(static_cast<unsigned char>(text[start]))) ++start;
  if (start < text.size() && (text[start] == '{' || text[start] == '[')) {
    json doc;
    try {
      // Bounded like the YAML reader's nesting, so hostile input cannot exhaust the stack.
      doc = json::parse(
          text.begin(), text.end(),
          [](int depth, json::parse_event_t, json &) {
            // depth is 0 at the outermost value, so kMaxJsonDepth levels are allowed.
            if (depth >= kMaxJsonDepth) throw std::length_error("nesting deeper than 128 levels");
            return true;
          },
          true, false);
    } catch (const json::parse_error &e) {
      fail(1, line_of(text, e.byte == 0 ? 0 : e.byte - 1),
           std::string("JSON syntax error: ") + e.what());
    } catch (const json::exception &e) {
      // out_of_range.406, "number overflow parsing '1e999'": found by the fuzzer.
      fail(1, line_of(text, start), std::string("JSON error: ") + e.what());
    } catch (const std::length_error &e) {
      fail(1, line_of(text, start), e.what());
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
