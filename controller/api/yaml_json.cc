// yaml_json.cc - YAML <-> JSON conversion for manifests (see yaml_json.h).
#include "controller/api/yaml_json.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/yaml.h>

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <utility>

#include "hal/host.hpp"

namespace hal::controller {
namespace {

using nlohmann::json;

// Upper bound on JSON nodes one document may expand to (aliases can multiply a small text).
constexpr size_t kMaxNodes = 1'000'000;
// Upper bound on the text (keys and scalars) one document may expand to: an alias to a long
// string, repeated, would otherwise make a small manifest take gigabytes.
constexpr size_t kMaxBytes = 64 * 1024 * 1024;
// Upper bound on documents in one stream.
constexpr size_t kMaxDocuments = 10'000;
// Upper bound on nesting depth.
constexpr size_t kMaxDepth = 128;

// A problem found while building a document; line is 1-based (0 = unknown).
struct BuildError {
  size_t line;
  std::string message;
};

bool is_null_text(std::string_view s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

std::optional<bool> bool_text(std::string_view s) {
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  return std::nullopt;
}

// Integer per the YAML 1.2 core schema ([-+]?[0-9]+, 0o[0-7]+, 0x[0-9a-fA-F]+).
std::optional<json> int_text(std::string_view s) {
  if (s.empty()) return std::nullopt;
  int base = 10;
  std::string_view digits = s;
  bool negative = false;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
    base = s[1] == 'x' ? 16 : 8;
    digits = s.substr(2);
  } else if (s[0] == '-' || s[0] == '+') {
    negative = s[0] == '-';
    digits = s.substr(1);
  }
  if (digits.empty()) return std::nullopt;
  for (char c : digits) {
    bool ok = base == 16  ? std::isxdigit(static_cast<unsigned char>(c)) != 0
              : base == 8 ? (c >= '0' && c <= '7')
                          : (c >= '0' && c <= '9');
    if (!ok) return std::nullopt;
  }
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value, base);
  if (ec != std::errc() || ptr != digits.data() + digits.size()) return std::nullopt;
  if (negative) {
    if (value > static_cast<uint64_t>(INT64_MAX) + 1) return std::nullopt;
    return json(value == static_cast<uint64_t>(INT64_MAX) + 1 ? INT64_MIN
                                                              : -static_cast<int64_t>(value));
  }
  if (value <= static_cast<uint64_t>(INT64_MAX)) return json(static_cast<int64_t>(value));
  return json(value);
}

std::optional<json> float_text(std::string_view s) {
  static const std::regex pattern(R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)");
  if (s.empty() || s.size() > 64) return std::nullopt;
  if (!std::regex_match(s.begin(), s.end(), pattern)) return std::nullopt;
  try {
    double d = std::stod(std::string(s));
    if (!std::isfinite(d)) return std::nullopt;
    return json(d);
  } catch (const std::exception &) {
    return std::nullopt;
  }
}

// Resolves a plain (untagged, unquoted) scalar per the YAML 1.2 core schema.
json resolve_plain(const std::string &s) {
  if (is_null_text(s)) return nullptr;
  if (auto b = bool_text(s)) return *b;
  if (auto i = int_text(s)) return *i;
  if (auto f = float_text(s)) return *f;
  return s;
}

// Builds JSON documents from yaml-cpp parser events.
class JsonBuilder : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark &mark) override {
    stack_.clear();
    anchors_.clear();
    nodes_ = 0;
    bytes_ = 0;
    root_ = nullptr;
    root_line_ = static_cast<size_t>(mark.line) + 1;
    start_pos_ = mark.pos;
    have_root_ = false;
  }
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark &mark, YAML::anchor_t anchor) override {
    if (in_key_position()) fail(mark, "a mapping key must not be null");
    add(mark, nullptr, anchor, 1, 0);
  }
  void OnAlias(const YAML::Mark &mark, YAML::anchor_t anchor) override {
    auto it = anchors_.find(anchor);
    if (it == anchors_.end()) fail(mark, "alias to an unknown anchor");
    const Anchored &anchored = it->second;
    if (in_key_position()) {
      if (!anchored.value.is_string()) fail(mark, "a mapping key must be a scalar");
      const auto &key = anchored.value.get_ref<const std::string &>();
      if (stack_.back().value.contains(key)) fail(mark, "duplicate key \"" + key + "\"");
      count(mark, 0, key.size());
      stack_.back().bytes += key.size();
      stack_.back().key = key;
      return;
    }
    add(mark, anchored.value, 0, anchored.nodes, anchored.bytes);
  }
  void OnScalar(const YAML::Mark &mark, const std::string &tag, YAML::anchor_t anchor,
                const std::string &value) override {
    if (in_key_position()) {
      if (stack_.back().value.contains(value)) fail(mark, "duplicate key \"" + value + "\"");
      count(mark, 0, value.size());
      stack_.back().bytes += value.size();
      stack_.back().key = value;
      stack_.back().key_line = static_cast<size_t>(mark.line) + 1;
      if (anchor != 0) anchors_[anchor] = Anchored{json(value), 1, value.size()};
      return;
    }
    add(mark, scalar(mark, tag, value), anchor, 1, value.size());
  }
  void OnSequenceStart(const YAML::Mark &mark, const std::string &, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(mark, json::array(), anchor);
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark &mark, const std::string &, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open(mark, json::object(), anchor);
  }
  void OnMapEnd() override { close(); }

  /** The finished document (null when empty). */
  json take() { return std::move(root_); }
  /** Line where the document started. */
  size_t line() const { return root_line_; }
  /** Byte offset where the document started. */
  int start_pos() const { return start_pos_; }

 private:
  struct Frame {
    json value;
    YAML::anchor_t anchor = 0;
    std::optional<std::string> key;  // pending key (maps only)
    size_t key_line = 0;
    size_t nodes = 1;
    size_t bytes = 0;  // of keys and scalars
  };
  // A value with an anchor, and what an alias to it adds.
  struct Anchored {
    json value;
    size_t nodes = 1;
    size_t bytes = 0;
  };

  [[noreturn]] static void fail(const YAML::Mark &mark, const std::string &message) {
    throw BuildError{mark.is_null() ? 0 : static_cast<size_t>(mark.line) + 1, message};
  }

  bool in_key_position() const {
    return !stack_.empty() && stack_.back().value.is_object() && !stack_.back().key;
  }

  static json scalar(const YAML::Mark &mark, const std::string &tag, const std::string &value) {
    static const std::string core = "tag:yaml.org,2002:";
    if (tag == "?" || tag.empty()) return resolve_plain(value);
    if (tag == "!" || tag == core + "str") return value;
    if (tag == core + "null") return nullptr;
    if (tag == core + "bool") {
      if (auto b = bool_text(value)) return *b;
      fail(mark, "\"" + value + "\" is not a !!bool");
    }
    if (tag == core + "int") {
      if (auto i = int_text(value)) return *i;
      fail(mark, "\"" + value + "\" is not an !!int");
    }
    if (tag == core + "float") {
      if (auto i = int_text(value)) return json(i->get<double>());
      if (auto f = float_text(value)) return *f;
      fail(mark, "\"" + value + "\" is not a !!float");
    }
    fail(mark, "unsupported tag " + tag);
  }

  void count(const YAML::Mark &mark, size_t n, size_t bytes) {
    nodes_ += n;
    bytes_ += bytes;
    if (nodes_ > kMaxNodes) fail(mark, "document expands to more than 1000000 nodes");
    if (bytes_ > kMaxBytes) fail(mark, "document expands to more than 64 MiB of text");
  }

  void open(const YAML::Mark &mark, json value, YAML::anchor_t anchor) {
    if (in_key_position()) fail(mark, "a mapping key must be a scalar");
    if (stack_.size() >= kMaxDepth) fail(mark, "nesting deeper than 128 levels");
    count(mark, 1, 0);
    stack_.push_back(Frame{std::move(value), anchor, std::nullopt, 0, 1, 0});
  }

  void close() {
    Frame frame = std::move(stack_.back());
    stack_.pop_back();
    if (frame.anchor != 0) anchors_[frame.anchor] = Anchored{frame.value, frame.nodes, frame.bytes};
    attach(std::move(frame.value), frame.nodes, frame.bytes);
  }

  void add(const YAML::Mark &mark, json value, YAML::anchor_t anchor, size_t nodes, size_t bytes) {
    count(mark, nodes, bytes);
    if (anchor != 0) anchors_[anchor] = Anchored{value, nodes, bytes};
    attach(std::move(value), nodes, bytes);
  }

  void attach(json value, size_t nodes, size_t bytes) {
    if (stack_.empty()) {
      root_ = std::move(value);
      have_root_ = true;
      return;
    }
    Frame &parent = stack_.back();
    parent.nodes += nodes;
    parent.bytes += bytes;
    if (parent.value.is_array()) {
      parent.value.push_back(std::move(value));
    } else {
      parent.value[*parent.key] = std::move(value);
      parent.key.reset();
    }
  }

  std::vector<Frame> stack_;
  std::map<YAML::anchor_t, Anchored> anchors_;
  size_t nodes_ = 0;
  size_t bytes_ = 0;  // text of keys and scalars, aliases expanded
  json root_;
  size_t root_line_ = 1;
  int start_pos_ = -1;
  bool have_root_ = false;
};

// True when `s` can be emitted as a plain scalar and reads back as the same string.
bool plain_safe(const std::string &s) {
  if (s.empty()) return false;
  if (!resolve_plain(s).is_string()) return false;
  static const std::string bad_first = "-?:,[]{}#&*!|>'\"%@` \t";
  if (bad_first.find(s.front()) != std::string::npos) return false;
  if (s.back() == ' ' || s.back() == ':') return false;
  if (s.find(": ") != std::string::npos || s.find(" #") != std::string::npos) return false;
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  }
  // YAML 1.1 readers (e.g. Go's) would take these as booleans.
  static const char *const yaml11[] = {"y",  "Y",  "yes", "Yes", "YES", "n",   "N",   "no",
                                       "No", "NO", "on",  "On",  "ON",  "off", "Off", "OFF"};
  for (const char *word : yaml11) {
    if (s == word) return false;
  }
  return true;
}

void emit(YAML::Emitter &out, const json &value) {
  switch (value.type()) {
    case json::value_t::object:
      if (value.empty()) {
        out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
        return;
      }
      out << YAML::BeginMap;
      for (const auto &[key, item] : value.items()) {
        out << YAML::Key;
        if (plain_safe(key)) {
          out << key;
        } else {
          out << YAML::DoubleQuoted << key;
        }
        out << YAML::Value;
        emit(out, item);
      }
      out << YAML::EndMap;
      return;
    case json::value_t::array:
      if (value.empty()) {
        out << YAML::Flow << YAML::BeginSeq << YAML::EndSeq;
        return;
      }
      out << YAML::BeginSeq;
      for (const auto &item : value) emit(out, item);
      out << YAML::EndSeq;
      return;
    case json::value_t::string: {
      const auto &s = value.get_ref<const std::string &>();
      if (plain_safe(s)) {
        out << s;
      } else if (s.find('\n') != std::string::npos && s.back() == '\n' &&
                 s.find_first_of("\t\r") == std::string::npos) {
        out << YAML::Literal << s;
      } else {
        out << YAML::DoubleQuoted << s;
      }
      return;
    }
    case json::value_t::boolean:
      out << (value.get<bool>() ? "true" : "false");
      return;
    case json::value_t::number_integer:
      out << value.get<int64_t>();
      return;
    case json::value_t::number_unsigned:
      out << value.get<uint64_t>();
      return;
    case json::value_t::number_float:
      out << value.dump();
      return;
    default:
      out << YAML::Null;
      return;
  }
}

}  // namespace

std::vector<YamlDocument> yaml_to_json_documents(std::string_view text) {
  std::istringstream in{std::string(text)};
  std::vector<YamlDocument> documents;
  JsonBuilder builder;
  size_t index = 0;
  try {
    YAML::Parser parser(in);
    int previous_start = -1;
    while (true) {
      ++index;
      if (!parser.HandleNextDocument(builder)) break;
      // yaml-cpp 0.7 can report empty documents forever at some malformed input without
      // consuming it; a second empty document at the same offset means it is stuck.
      json value = builder.take();
      if (value.is_null() && builder.start_pos() == previous_start) {
        throw BuildError{builder.line(), "YAML syntax error: the parser cannot continue here"};
      }
      previous_start = builder.start_pos();
      if (documents.size() >= kMaxDocuments) {
        throw BuildError{builder.line(), "more than 10000 documents"};
      }
      documents.push_back(YamlDocument{std::move(value), builder.line()});
    }
  } catch (const BuildError &e) {
    throw Error(HAL_INVALID_ARGUMENT, "document " + std::to_string(index) + " (line " +
                                          std::to_string(e.line) + "): " + e.message);
  } catch (const YAML::Exception &e) {
    std::string where = e.mark.is_null() ? "" : " (line " + std::to_string(e.mark.line + 1) + ")";
    throw Error(HAL_INVALID_ARGUMENT,
                "document " + std::to_string(index) + where + ": YAML syntax error: " + e.msg);
  }
  return documents;
}

std::string json_to_yaml(const nlohmann::json &value) {
  YAML::Emitter out;
  out.SetIndent(2);
  emit(out, value);
  std::string text = out.c_str();
  if (text.empty() || text.back() != '\n') text += '\n';
  return text;
}

}  // namespace hal::controller
