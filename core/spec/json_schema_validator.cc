// json_schema_validator.cc - the keyword-by-keyword implementation of JsonSchemaValidator.
#include "core/spec/json_schema_validator.h"

#include <map>
#include <memory>
#include <mutex>
#include <regex>

namespace hal {
namespace {

using nlohmann::json;

constexpr int kMaxRefDepth = 32;
constexpr size_t kMaxPatternInput = 4096;  // std::regex recurses per character; stay bounded

// Compiled patterns shared by every validator; std::regex is costly to build.
const std::regex *compiled_pattern(const std::string &pattern) {
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<std::regex>> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(pattern);
  if (it == cache.end()) {
    std::unique_ptr<std::regex> re;
    try {
      re = std::make_unique<std::regex>(pattern, std::regex::ECMAScript);
    } catch (const std::regex_error &) {
      re = nullptr;  // an invalid pattern in a schema: reported as a failed match
    }
    it = cache.emplace(pattern, std::move(re)).first;
  }
  return it->second.get();
}

std::string dump(const json &value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

// Counts UTF-8 code points (bytes that are not continuation bytes).
size_t utf8_length(const std::string &s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

bool type_matches(const json &instance, std::string_view type) {
  if (type == "object") return instance.is_object();
  if (type == "array") return instance.is_array();
  if (type == "string") return instance.is_string();
  if (type == "boolean") return instance.is_boolean();
  if (type == "null") return instance.is_null();
  if (type == "number") return instance.is_number();
  if (type == "integer") return instance.is_number_integer();
  return false;
}

std::string type_name(const json &instance) {
  if (instance.is_number_integer()) return "integer";
  return instance.type_name();
}

// Compares two JSON numbers exactly enough for 64-bit integers (long double has 64 mantissa bits).
long double as_long_double(const json &n) {
  if (n.is_number_unsigned()) return static_cast<long double>(n.get<uint64_t>());
  if (n.is_number_integer()) return static_cast<long double>(n.get<int64_t>());
  return static_cast<long double>(n.get<double>());
}

class Walker {
 public:
  Walker(const JsonSchemaValidator &validator, size_t max_errors)
      : validator_(validator), max_errors_(max_errors) {}

  std::vector<FieldError> errors;

  void validate(const json &schema, const json &document, const json &instance,
                const std::string &path, int depth) {
    if (errors.size() >= max_errors_) return;
    if (schema.is_boolean()) {
      if (!schema.get<bool>()) add(path, "is not allowed");
      return;
    }
    if (!schema.is_object()) return;

    if (auto it = schema.find("$ref"); it != schema.end() && it->is_string()) {
      follow_ref(*it, document, instance, path, depth);
    }
    if (auto it = schema.find("type"); it != schema.end() && !check_type(*it, instance, path)) {
      return;  // further keywords would only repeat the same problem
    }
    if (auto it = schema.find("const"); it != schema.end() && instance != *it) {
      add(path, "must be " + dump(*it));
    }
    if (auto it = schema.find("enum"); it != schema.end() && it->is_array()) {
      check_enum(*it, instance, path);
    }
    if (instance.is_string()) check_string(schema, instance.get_ref<const std::string &>(), path);
    if (instance.is_number()) check_number(schema, instance, path);
    if (instance.is_object()) check_object(schema, document, instance, path, depth);
    if (instance.is_array()) check_array(schema, document, instance, path, depth);
    check_combinators(schema, document, instance, path, depth);
  }

 private:
  void add(const std::string &path, std::string message) {
    if (errors.size() < max_errors_) errors.push_back({path, std::move(message)});
  }

  void follow_ref(const json &ref, const json &document, const json &instance,
                  const std::string &path, int depth) {
    const std::string &text = ref.get_ref<const std::string &>();
    if (depth >= kMaxRefDepth) {
      add(path, "schema reference nesting too deep at " + text);
      return;
    }
    JsonSchemaValidator::RefTarget target = validator_.resolve_ref(ref, document);
    if (target.schema == nullptr) {
      add(path, "schema reference " + text + " cannot be resolved");
      return;
    }
    validate(*target.schema, *target.document, instance, path, depth + 1);
  }

  bool check_type(const json &type, const json &instance, const std::string &path) {
    if (type.is_string()) {
      if (type_matches(instance, type.get_ref<const std::string &>())) return true;
      add(path, "must be " + type.get<std::string>() + ", got " + type_name(instance));
      return false;
    }
    if (type.is_array()) {
      std::string names;
      for (const auto &t : type) {
        if (t.is_string() && type_matches(instance, t.get_ref<const std::string &>())) return true;
        names += (names.empty() ? "" : " or ") + (t.is_string() ? t.get<std::string>() : "?");
      }
      add(path, "must be " + names + ", got " + type_name(instance));
      return false;
    }
    return true;
  }

  void check_enum(const json &choices, const json &instance, const std::string &path) {
    std::string list;
    for (const auto &choice : choices) {
      if (choice == instance) return;
      list += (list.empty() ? "" : ", ") + dump(choice);
    }
    add(path, "must be one of " + list + ", got " + dump(instance));
  }

  void check_string(const json &schema, const std::string &s, const std::string &path) {
    const size_t length = utf8_length(s);
    if (auto it = schema.find("minLength");
        it != schema.end() && it->is_number_unsigned() && length < it->get<uint64_t>()) {
      add(path, it->get<uint64_t>() == 1 ? "must not be empty"
                                         : "must be at least " + dump(*it) + " characters");
      return;
    }
    if (auto it = schema.find("maxLength");
        it != schema.end() && it->is_number_unsigned() && length > it->get<uint64_t>()) {
      add(path, "must be at most " + dump(*it) + " characters");
      return;
    }
    if (auto it = schema.find("pattern"); it != schema.end() && it->is_string()) {
      const std::regex *re = compiled_pattern(it->get<std::string>());
      bool ok = re != nullptr && s.size() <= kMaxPatternInput && std::regex_search(s, *re);
      if (!ok) {
        auto msg = schema.find("errorMessage");
        add(path, msg != schema.end() && msg->is_string()
                      ? msg->get<std::string>()
                      : "must match the pattern " + it->get<std::string>());
      }
    }
  }

  void check_number(const json &schema, const json &instance, const std::string &path) {
    const long double v = as_long_double(instance);
    auto bound = [&](const char *keyword, auto violates, const char *op) {
      auto it = schema.find(keyword);
      if (it != schema.end() && it->is_number() && violates(v, as_long_double(*it))) {
        add(path, std::string("must be ") + op + " " + dump(*it));
      }
    };
    bound(
        "minimum", [](long double a, long double b) { return a < b; }, ">=");
    bound(
        "maximum", [](long double a, long double b) { return a > b; }, "<=");
    bound(
        "exclusiveMinimum", [](long double a, long double b) { return a <= b; }, ">");
    bound(
        "exclusiveMaximum", [](long double a, long double b) { return a >= b; }, "<");
  }

  void check_object(const json &schema, const json &document, const json &instance,
                    const std::string &path, int depth) {
    if (auto it = schema.find("required"); it != schema.end() && it->is_array()) {
      for (const auto &name : *it) {
        if (name.is_string() && !instance.contains(name.get<std::string>())) {
          add(append_key(path, name.get<std::string>()), "is required");
        }
      }
    }
    const auto props = schema.find("properties");
    const auto additional = schema.find("additionalProperties");
    for (const auto &[key, value] : instance.items()) {
      if (props != schema.end() && props->is_object() && props->contains(key)) {
        validate((*props)[key], document, value, append_key(path, key), depth);
      } else if (additional != schema.end()) {
        if (additional->is_boolean() && !additional->get<bool>()) {
          add(path, "unknown field " + dump(json(key)));
        } else {
          validate(*additional, document, value, append_key(path, key), depth);
        }
      }
    }
  }

  void check_array(const json &schema, const json &document, const json &instance,
                   const std::string &path, int depth) {
    const size_t n = instance.size();
    if (auto it = schema.find("minItems");
        it != schema.end() && it->is_number_unsigned() && n < it->get<uint64_t>()) {
      add(path, it->get<uint64_t>() == 1 ? "must not be empty"
                                         : "must have at least " + dump(*it) + " items");
    }
    if (auto it = schema.find("maxItems");
        it != schema.end() && it->is_number_unsigned() && n > it->get<uint64_t>()) {
      add(path, "must have at most " + dump(*it) + " items");
      return;  // do not walk a huge array
    }
    if (auto it = schema.find("items"); it != schema.end()) {
      for (size_t i = 0; i < n && errors.size() < max_errors_; ++i) {
        validate(*it, document, instance[i], append_index(path, i), depth);
      }
    }
    if (auto it = schema.find("uniqueItems");
        it != schema.end() && it->is_boolean() && it->get<bool>()) {
      // Sorting would be faster, but arrays here are capped by maxItems and usually short.
      std::map<std::string, size_t> seen;
      for (size_t i = 0; i < n; ++i) {
        auto [pos, inserted] = seen.emplace(dump(instance[i]), i);
        if (!inserted) {
          add(append_index(path, i), "duplicate value " + dump(instance[i]) + " (same as [" +
                                         std::to_string(pos->second) + "])");
        }
      }
    }
  }

  static bool wrong_type(const json &schema, const json &instance) {
    if (!schema.is_object()) return false;
    auto it = schema.find("type");
    if (it == schema.end()) return false;
    if (it->is_string()) return !type_matches(instance, it->get_ref<const std::string &>());
    if (!it->is_array()) return false;
    for (const auto &t : *it) {
      if (t.is_string() && type_matches(instance, t.get_ref<const std::string &>())) return false;
    }
    return true;
  }

  // Runs `schema` on its own error list so a failing branch does not leak errors.
  std::vector<FieldError> trial(const json &schema, const json &document, const json &instance,
                                const std::string &path, int depth) {
    Walker sub(validator_, max_errors_);
    sub.validate(schema, document, instance, path, depth + 1);
    return std::move(sub.errors);
  }

  void check_combinators(const json &schema, const json &document, const json &instance,
                         const std::string &path, int depth) {
    if (depth >= kMaxRefDepth) return;
    if (auto it = schema.find("allOf"); it != schema.end() && it->is_array()) {
      for (const auto &sub : *it) validate(sub, document, instance, path, depth + 1);
    }
    for (const char *keyword : {"anyOf", "oneOf"}) {
      auto it = schema.find(keyword);
      if (it == schema.end() || !it->is_array() || it->empty()) continue;
      size_t matches = 0;
      std::vector<FieldError> best;
      bool have_best = false;
      size_t best_score = 0;
      for (const auto &sub : *it) {
        auto errs = trial(sub, document, instance, path, depth);
        // A branch of the wrong type is the least helpful one to report.
        const size_t score = errs.size() + (wrong_type(sub, instance) ? 1000 : 0);
        if (errs.empty()) {
          ++matches;
        } else if (!have_best || score < best_score) {
          best = std::move(errs);
          best_score = score;
          have_best = true;
        }
      }
      const bool one_of = std::string_view(keyword) == "oneOf";
      if (matches == 0) {
        // Report the closest branch: its errors say what to change.
        for (auto &e : best) add(e.path, e.message);
      } else if (one_of && matches > 1) {
        add(path, "matches more than one allowed form");
      }
    }
  }

  const JsonSchemaValidator &validator_;
  size_t max_errors_;
};

bool identifier_like(std::string_view key) {
  if (key.empty()) return false;
  for (size_t i = 0; i < key.size(); ++i) {
    const char c = key[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    const bool other = (c >= '0' && c <= '9') || c == '-';
    if (!(alpha || (i > 0 && other))) return false;
  }
  return true;
}

}  // namespace

std::string append_key(std::string_view path, std::string_view key) {
  std::string out(path);
  if (identifier_like(key)) {
    out += '.';
    out += key;
  } else {
    out += '[' + dump(json(std::string(key))) + ']';
  }
  return out;
}

std::string append_index(std::string_view path, size_t index) {
  return std::string(path) + '[' + std::to_string(index) + ']';
}

JsonSchemaValidator::JsonSchemaValidator(const nlohmann::json &schema, Resolver resolver)
    : schema_(schema), resolver_(std::move(resolver)) {}

std::vector<FieldError> JsonSchemaValidator::validate(const nlohmann::json &instance,
                                                      std::string_view root,
                                                      size_t max_errors) const {
  Walker walker(*this, max_errors);
  walker.validate(schema_, schema_, instance, std::string(root), 0);
  return std::move(walker.errors);
}

JsonSchemaValidator::RefTarget JsonSchemaValidator::resolve_ref(
    const nlohmann::json &ref, const nlohmann::json &document) const {
  {
    std::shared_lock lock(refs_mutex_);
    if (auto it = refs_.find(&ref); it != refs_.end()) return it->second;
  }
  const std::string &text = ref.get_ref<const std::string &>();
  const size_t hash = text.find('#');
  const std::string doc_name = text.substr(0, hash);
  const std::string pointer = hash == std::string::npos ? "" : text.substr(hash + 1);
  RefTarget target{nullptr, &document};
  if (!doc_name.empty()) target.document = resolver_ ? resolver_(doc_name) : nullptr;
  if (target.document == nullptr) return {};
  try {
    target.schema = &target.document->at(json::json_pointer(pointer));
  } catch (const json::exception &) {
    return {};  // not remembered: an error path, and rare
  }
  std::unique_lock lock(refs_mutex_);
  refs_.emplace(&ref, target);
  return target;
}

}  // namespace hal
