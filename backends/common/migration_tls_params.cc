// migration_tls_params.cc - parsing migration-params "tls" (see migration_tls_params.h).
#include "backends/common/migration_tls_params.h"

#include "hal/plugin.hpp"

namespace hal::backend_common {

namespace {

[[noreturn]] void bad(const std::string &field, const std::string &why) {
  throw hal::plugin::Failure(HAL_INVALID_ARGUMENT, "migration params.tls" + field + ": " + why);
}

// An optional non-empty string member of `tls` ("" when absent).
std::string read_string(const nlohmann::json &tls, const char *key, size_t max_length) {
  if (!tls.contains(key)) return "";
  const auto &value = tls[key];
  if (!value.is_string() || value.get<std::string>().empty() ||
      value.get<std::string>().size() > max_length)
    bad(std::string(".") + key,
        "must be a non-empty string of at most " + std::to_string(max_length) + " characters");
  return value.get<std::string>();
}

}  // namespace

MigrationTlsParams parse_migration_tls(const nlohmann::json &tls) {
  if (!tls.is_object()) bad("", "must be an object");
  for (const auto &item : tls.items()) {
    if (item.key() != "dir" && item.key() != "hostname" && item.key() != "peerSubjects")
      bad("." + item.key(), "unknown field");
  }
  MigrationTlsParams parsed;
  parsed.dir = read_string(tls, "dir", 4096);
  if (parsed.dir.empty()) bad(".dir", "required");
  if (parsed.dir.front() != '/') bad(".dir", "must be an absolute directory path");
  parsed.hostname = read_string(tls, "hostname", 253);
  if (tls.contains("peerSubjects")) {
    const auto &subjects = tls["peerSubjects"];
    if (!subjects.is_array() || subjects.empty() || subjects.size() > 16)
      bad(".peerSubjects", "must be an array of 1 to 16 patterns");
    for (const auto &subject : subjects) {
      if (!subject.is_string() || subject.get<std::string>().empty() ||
          subject.get<std::string>().size() > 1024)
        bad(".peerSubjects", "each pattern must be a non-empty string of at most 1024 characters");
      parsed.peer_subjects.push_back(subject.get<std::string>());
    }
  }
  return parsed;
}

std::vector<std::string> migration_tls_files(bool source) {
  if (source) return {"ca-cert.pem", "client-cert.pem", "client-key.pem"};
  return {"ca-cert.pem", "server-cert.pem", "server-key.pem"};
}

}  // namespace hal::backend_common
