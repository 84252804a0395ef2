// json_pointer.cc - RFC 6901 JSON pointer parsing, lookup and slot creation for the SDK.
#include "core/sdk/json_pointer.h"

#include <limits>

namespace hal::sdk {
namespace {

using nlohmann::json;

// An array index: "0" or digits without a leading zero, small enough for size_t.
std::optional<size_t> array_index(const std::string &token) {
  if (token.empty() || token.size() > 18 || (token.size() > 1 && token[0] == '0')) {
    return std::nullopt;
  }
  size_t index = 0;
  for (char c : token) {
    if (c < '0' || c > '9') return std::nullopt;
    index = index * 10 + static_cast<size_t>(c - '0');
  }
  return index;
}

bool names_array_slot(const std::string &token) {
  return token == "-" || array_index(token).has_value();
}

std::string where(const std::vector<std::string> &tokens, size_t count) {
  std::string out;
  for (size_t i = 0; i < count; ++i) out += "/" + tokens[i];
  return out.empty() ? "the root" : "'" + out + "'";
}

}  // namespace

std::optional<std::vector<std::string>> split_pointer(std::string_view pointer) {
  std::vector<std::string> tokens;
  if (pointer.empty()) return tokens;
  if (pointer.front() != '/') return std::nullopt;
  std::string token;
  for (size_t i = 1; i <= pointer.size(); ++i) {
    if (i == pointer.size() || pointer[i] == '/') {
      tokens.push_back(std::move(token));
      token.clear();
      continue;
    }
    if (pointer[i] != '~') {
      token += pointer[i];
      continue;
    }
    if (i + 1 >= pointer.size() || (pointer[i + 1] != '0' && pointer[i + 1] != '1')) {
      return std::nullopt;
    }
    token += pointer[i + 1] == '0' ? '~' : '/';
    ++i;
  }
  return tokens;
}

const json *find_value(const json &root, const std::vector<std::string> &tokens) {
  const json *current = &root;
  for (const std::string &token : tokens) {
    if (current->is_object()) {
      auto it = current->find(token);
      if (it == current->end()) return nullptr;
      current = &*it;
    } else if (current->is_array()) {
      auto index = array_index(token);
      if (!index || *index >= current->size()) return nullptr;
      current = &(*current)[*index];
    } else {
      return nullptr;
    }
  }
  return current;
}

json *make_slot(json &root, const std::vector<std::string> &tokens, std::string *error) {
  json *current = &root;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string &token = tokens[i];
    const bool last = i + 1 == tokens.size();
    json *next = nullptr;
    if (current->is_object()) {
      auto it = current->find(token);
      if (it != current->end()) {
        next = &*it;
      } else {
        next = &(*current)[token];
        if (!last) *next = names_array_slot(tokens[i + 1]) ? json::array() : json::object();
      }
    } else if (current->is_array()) {
      auto index = array_index(token);
      if (token != "-" && !index) {
        *error = where(tokens, i) + " is an array; '" + token + "' is not an index or \"-\"";
        return nullptr;
      }
      const size_t size = current->size();
      if (index && *index < size) {
        next = &(*current)[*index];
      } else if (token == "-" || *index == size) {
        current->push_back(nullptr);
        next = &current->back();
        if (!last) *next = names_array_slot(tokens[i + 1]) ? json::array() : json::object();
      } else {
        *error = "index " + token + " is past the end of " + where(tokens, i) + " (size " +
                 std::to_string(size) + ")";
        return nullptr;
      }
    } else {
      *error = where(tokens, i) + " is " + std::string(current->type_name()) +
               ", not an object or array";
      return nullptr;
    }
    current = next;
  }
  return current;
}

}  // namespace hal::sdk
