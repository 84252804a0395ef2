// backend_config.h - reading a backend's open() configuration, a JSON object of named settings:
// typed getters whose errors name the key and the problem ("kvm-qemu config.accelerator: must be
// auto, kvm or tcg, not 'x'"), then one check that refuses every key no getter asked for, so a
// misspelt setting fails open() instead of being silently ignored.
#ifndef HAL_BACKENDS_COMMON_BACKEND_CONFIG_H
#define HAL_BACKENDS_COMMON_BACKEND_CONFIG_H

#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace hal::backend_common {

/** One backend's open() configuration being read. Every error is a
 *  hal::plugin::Failure(HAL_INVALID_ARGUMENT) whose message starts "<backend> config": the whole
 *  document ("<backend> config: not a JSON object") or one key ("<backend> config.<key>: ..."). */
class ConfigReader {
 public:
  /** Parses `json_text` (empty means "{}") as the configuration of backend `backend` (e.g.
   *  "kvm-qemu", used in messages); throws when it is not a JSON object. */
  ConfigReader(std::string_view backend, std::string_view json_text);

  /** The value of `key`, which must be a non-empty string when present; `fallback` when absent. */
  std::string string(std::string_view key, std::string fallback = {});
  /** Like string(), and a value that is present must also be one of `choices` ("must be auto, kvm
   *  or tcg, not 'x'"). `fallback` is returned as it is. */
  std::string one_of(std::string_view key, std::string fallback,
                     std::initializer_list<std::string_view> choices);
  /** The value of `key`, which must be a boolean when present; `fallback` when absent. */
  bool boolean(std::string_view key, bool fallback);

  /** Throws for the first key of the document (in its order) that no getter has asked for,
   *  listing the keys that were asked for in the order they were ("config.x: unknown field
   *  (known: a, b)"). Call it after every getter. */
  void refuse_unknown() const;

 private:
  // The value of `key` (nullptr when absent); records `key` as known.
  const nlohmann::json *find(std::string_view key);
  [[noreturn]] void fail(std::string_view key, const std::string &problem) const;

  std::string backend_;
  nlohmann::json doc_;
  std::vector<std::string> known_;
};

}  // namespace hal::backend_common

#endif  // HAL_BACKENDS_COMMON_BACKEND_CONFIG_H
