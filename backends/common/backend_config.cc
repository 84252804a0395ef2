// backend_config.cc - reading a backend's open() configuration (see backend_config.h).
#include "backends/common/backend_config.h"

#include <algorithm>

#include "hal/plugin.hpp"

namespace hal::backend_common {
using hal::plugin::Failure;

ConfigReader::ConfigReader(std::string_view backend, std::string_view json_text)
    : backend_(backend) {
  doc_ = nlohmann::json::parse(json_text.empty() ? "{}" : json_text, nullptr, false);
  if (doc_.is_discarded() || !doc_.is_object()) {
    throw Failure(HAL_INVALID_ARGUMENT, backend_ + " config: not a JSON object");
  }
}

const nlohmann::json *ConfigReader::find(std::string_view key) {
  if (std::find(known_.begin(), known_.end(), key) == known_.end()) known_.emplace_back(key);
  auto it = doc_.find(std::string(key));
  return it == doc_.end() ? nullptr : &*it;
}

void ConfigReader::fail(std::string_view key, const std::string &problem) const {
  throw Failure(HAL_INVALID_ARGUMENT, backend_ + " config." + std::string(key) + ": " + problem);
}

std::string ConfigReader::string(std::string_view key, std::string fallback) {
  const nlohmann::json *value = find(key);
  if (value == nullptr) return fallback;
  if (!value->is_string() || value->get_ref<const std::string &>().empty()) {
    fail(key, "must be a non-empty string");
  }
  return value->get<std::string>();
}

std::string ConfigReader::one_of(std::string_view key, std::string fallback,
                                 std::initializer_list<std::string_view> choices) {
  const bool present = find(key) != nullptr;
  std::string value = string(key, std::move(fallback));
  if (!present || std::find(choices.begin(), choices.end(), value) != choices.end()) return value;
  std::string allowed;
  size_t i = 0;
  for (std::string_view choice : choices) {
    if (i > 0) allowed += i + 1 == choices.size() ? " or " : ", ";
    allowed += choice;
    ++i;
  }
  fail(key, "must be " + allowed + ", not '" + value + "'");
}

bool ConfigReader::boolean(std::string_view key, bool fallback) {
  const nlohmann::json *value = find(key);
  if (value == nullptr) return fallback;
  if (!value->is_boolean()) fail(key, "must be a boolean");
  return value->get<bool>();
}

void ConfigReader::refuse_unknown() const {
  for (const auto &item : doc_.items()) {
    if (std::find(known_.begin(), known_.end(), item.key()) != known_.end()) continue;
    std::string known;
    for (const std::string &name : known_) known += (known.empty() ? "" : ", ") + name;
    fail(item.key(), "unknown field (known: " + known + ")");
  }
}

}  // namespace hal::backend_common
