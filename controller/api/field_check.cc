// field_check.cc - helpers shared by the kind validators (see field_check.h).
#include "controller/api/field_check.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "core/spec/quantity.h"

namespace hal::controller::detail {

using nlohmann::json;

std::string join(std::string_view base, std::string_view key) {
  if (base.empty()) return std::string(key);
  std::string out(base);
  out += '.';
  out += key;
  return out;
}

std::string index(std::string_view base, size_t i) {
  return std::string(base) + "[" + std::to_string(i) + "]";
}

bool check_fields(const json &object, std::string_view path,
                  std::initializer_list<std::string_view> allowed, const Rejections &rejected,
                  Errors &errors) {
  if (!object.is_object()) {
    errors.add(std::string(path), std::string("must be an object, not ") + object.type_name());
    return false;
  }
  for (const auto &[key, value] : object.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
    auto it = rejected.find(key);
    if (it != rejected.end()) {
      errors.add(join(path, key), it->second);
    } else {
      std::string known;
      for (auto name : allowed) {
        if (!known.empty()) known += ", ";
        known += name;
      }
      errors.add(join(path, key), "unknown field (known here: " + known + ")");
    }
  }
  return true;
}

std::optional<std::string> get_string(const json &object, std::string_view key,
                                      std::string_view path, Errors &errors) {
  auto it = object.find(key);
  if (it == object.end()) return std::nullopt;
  if (!it->is_string()) {
    errors.add(join(path, key), std::string("must be a string, not ") + it->type_name());
    return std::nullopt;
  }
  return it->get<std::string>();
}

std::optional<bool> get_bool(const json &object, std::string_view key, std::string_view path,
                             Errors &errors) {
  auto it = object.find(key);
  if (it == object.end()) return std::nullopt;
  if (!it->is_boolean()) {
    errors.add(join(path, key), std::string("must be true or false, not ") + it->type_name());
    return std::nullopt;
  }
  return it->get<bool>();
}

std::optional<int64_t> get_int(const json &object, std::string_view key, std::string_view path,
                               int64_t min, int64_t max, Errors &errors) {
  auto it = object.find(key);
  if (it == object.end()) return std::nullopt;
  if (!it->is_number_integer()) {
    errors.add(join(path, key), std::string("must be an integer, not ") + it->type_name());
    return std::nullopt;
  }
  if (it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(max)) {
    errors.add(join(path, key),
               "must be between " + std::to_string(min) + " and " + std::to_string(max));
    return std::nullopt;
  }
  int64_t v = it->get<int64_t>();
  if (v < min || v > max) {
    errors.add(join(path, key),
               "must be between " + std::to_string(min) + " and " + std::to_string(max));
    return std::nullopt;
  }
  return v;
}

std::optional<uint64_t> get_bytes(const json &object, std::string_view key, std::string_view path,
                                  Errors &errors) {
  auto it = object.find(key);
  if (it == object.end()) return std::nullopt;
  if (it->is_number_integer() && (it->is_number_unsigned() || it->get<int64_t>() >= 0)) {
    return it->get<uint64_t>();
  }
  if (it->is_string()) {
    if (auto bytes = parse_quantity(it->get<std::string>())) return bytes;
    errors.add(join(path, key), "\"" + it->get<std::string>() +
                                    "\" is not a byte quantity (like 512Mi, 1Gi, 2G, 1073741824)");
    return std::nullopt;
  }
  errors.add(join(path, key), std::string("must be a quantity like 1Gi, not ") + it->type_name());
  return std::nullopt;
}

std::optional<uint64_t> parse_millicpu(std::string_view text) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  if (text.back() == 'm') {
    std::string_view digits = text.substr(0, text.size() - 1);
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
    if (digits.empty() || ec != std::errc() || p != digits.data() + digits.size()) {
      return std::nullopt;
    }
    return v;
  }
  size_t dot = text.find('.');
  std::string_view whole = text.substr(0, dot);
  std::string_view frac = dot == std::string_view::npos ? "" : text.substr(dot + 1);
  if (whole.empty() || frac.size() > 3 || (dot != std::string_view::npos && frac.empty())) {
    return std::nullopt;
  }
  uint64_t w = 0;
  auto [p, ec] = std::from_chars(whole.data(), whole.data() + whole.size(), w);
  if (ec != std::errc() || p != whole.data() + whole.size() || w > 1'000'000) return std::nullopt;
  uint64_t f = 0;
  for (size_t i = 0; i < 3; ++i) {
    char c = i < frac.size() ? frac[i] : '0';
    if (c < '0' || c > '9') return std::nullopt;
    f = f * 10 + static_cast<uint64_t>(c - '0');
  }
  return w * 1000 + f;
}

std::optional<uint64_t> get_millicpu(const json &object, std::string_view key,
                                     std::string_view path, Errors &errors) {
  auto it = object.find(key);
  if (it == object.end()) return std::nullopt;
  std::optional<uint64_t> v;
  if (it->is_number_integer()) {
    if (it->is_number_unsigned() || it->get<int64_t>() >= 0) {
      if (it->get<uint64_t>() <= 1'000'000) v = it->get<uint64_t>() * 1000;
    }
  } else if (it->is_number_float()) {
    double d = it->get<double>();
    if (d >= 0 && d <= 1'000'000) v = static_cast<uint64_t>(d * 1000 + 0.5);
  } else if (it->is_string()) {
    v = parse_millicpu(it->get<std::string>());
  }
  if (!v) {
    errors.add(join(path, key), "must be a CPU quantity like 2, 1.5 or 500m");
  }
  return v;
}

bool is_dns_label(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(s.front()) || !alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) { return alnum(c) || c == '-'; });
}

namespace {

// Kubernetes "qualified name" part: [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?, at most 63.
bool is_label_name(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  if (!alnum(s.front()) || !alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(),
                     [&](char c) { return alnum(c) || c == '-' || c == '_' || c == '.'; });
}

// DNS-1123 subdomain: dot-separated labels, at most 253.
bool is_dns_subdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    if (!is_dns_label(s.substr(start, dot - start))) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

bool is_label_key(std::string_view key) {
  size_t slash = key.find('/');
  if (slash == std::string_view::npos) return is_label_name(key);
  return is_dns_subdomain(key.substr(0, slash)) && is_label_name(key.substr(slash + 1));
}

}  // namespace

void check_string_map(const json &object, std::string_view key, std::string_view path,
                      bool label_values, Errors &errors) {
  auto it = object.find(key);
  if (it == object.end()) return;
  std::string p = join(path, key);
  if (!it->is_object()) {
    errors.add(p, std::string("must be a map of strings, not ") + it->type_name());
    return;
  }
  for (const auto &[k, v] : it->items()) {
    std::string kp = p + "[" + k + "]";
    if (!is_label_key(k)) {
      errors.add(kp,
                 "invalid key: an optional DNS subdomain prefix and '/', then a name of at "
                 "most 63 characters ([A-Za-z0-9] with '-', '_', '.' inside)");
    }
    if (!v.is_string()) {
      errors.add(kp, std::string("value must be a string (quote it), not ") + v.type_name());
      continue;
    }
    const auto &value = v.get_ref<const std::string &>();
    if (label_values && !value.empty() && !is_label_name(value)) {
      errors.add(kp, "invalid label value \"" + value +
                         "\": at most 63 characters, [A-Za-z0-9] with '-', '_', '.' inside");
    }
  }
}

}  // namespace hal::controller::detail
