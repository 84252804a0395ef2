// sdk_common.cc - the SDK's version, hal_error filling (hal_sdk_fail), its string functions
// and the helpers every other SDK file uses.
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/sdk/sdk_internal.h"

namespace hal::sdk {

void write_error(hal_error *error, std::string_view message) {
  if (error == nullptr || error->struct_size < sizeof(hal_error)) return;
  const size_t n = std::min(message.size(), sizeof error->message - 1);
  std::memcpy(error->message, message.data(), n);
  error->message[n] = '\0';
}

char *malloc_copy(std::string_view text) {
  char *copy = static_cast<char *>(std::malloc(text.size() + 1));
  if (copy == nullptr) return nullptr;
  std::memcpy(copy, text.data(), text.size());
  copy[text.size()] = '\0';
  return copy;
}

std::string join_errors(const std::vector<FieldError> &errors) {
  std::string out;
  for (const FieldError &e : errors) {
    if (!out.empty()) out += "; ";
    out += e.path + ": " + e.message;
  }
  return out;
}

bool parse_json(std::string_view text, nlohmann::json *out, std::string *message) {
  constexpr int kMaxDepth = 64;  // the host's limit (core/spec/vm_spec_validation.cc)
  auto strip = [](std::string what) {
    if (auto pos = what.find("] "); pos != std::string::npos) what = what.substr(pos + 2);
    return what;
  };
  try {
    *out =
        nlohmann::json::parse(text, [](int depth, nlohmann::json::parse_event_t, nlohmann::json &) {
          if (depth > kMaxDepth) throw std::length_error("JSON nested deeper than 64 levels");
          return true;
        });
    return true;
  } catch (const nlohmann::json::parse_error &e) {
    *message = "invalid JSON at byte " + std::to_string(e.byte) + ": " + strip(e.what());
  } catch (const nlohmann::json::exception &e) {
    *message = "invalid JSON: " + strip(e.what());
  } catch (const std::length_error &e) {
    *message = std::string("invalid JSON: ") + e.what();
  }
  return false;
}

}  // namespace hal::sdk

extern "C" {

uint32_t hal_sdk_version(void) {
  return HAL_SDK_VERSION;
}

hal_status hal_sdk_fail(hal_error *error, hal_status status, const char *format, ...) {
  if (error == nullptr || error->struct_size < sizeof(hal_error) || format == nullptr) {
    return status;
  }
  va_list args;
  va_start(args, format);
  std::vsnprintf(error->message, sizeof error->message, format, args);
  va_end(args);
  return status;
}

void hal_sdk_string_free(char *string) {
  std::free(string);
}

char *hal_sdk_string_dup(const char *text) {
  return text == nullptr ? nullptr : hal::sdk::malloc_copy(text);
}

}  // extern "C"
