// migration.cc - migration parameter parsing and QMP <-> HAL progress translation.
#include "backends/kvm-qemu/migration.h"

#include "hal/plugin.hpp"

namespace hal::kvm_qemu {

using hal::plugin::Failure;

namespace {

// Reads an unsigned integer field bounded by `max`, or keeps `value`.
template <class T>
void read_uint(const nlohmann::json &doc, const char *key, uint64_t max, T &value) {
  if (!doc.contains(key)) return;
  const auto &field = doc[key];
  if (!field.is_number_integer() || field.get<int64_t>() < 0 || field.get<uint64_t>() > max) {
    throw Failure(HAL_INVALID_ARGUMENT, std::string("migration params.") + key +
                                            ": must be an integer in [0, " + std::to_string(max) +
                                            "]");
  }
  value = static_cast<T>(field.get<uint64_t>());
}

// Reads a boolean field, or keeps `value`.
void read_bool(const nlohmann::json &doc, const char *key, bool &value) {
  if (!doc.contains(key)) return;
  if (!doc[key].is_boolean()) {
    throw Failure(HAL_INVALID_ARGUMENT,
                  std::string("migration params.") + key + ": must be a boolean");
  }
  value = doc[key].get<bool>();
}

// An integer field of `obj` or 0.
uint64_t uint_or_zero(const nlohmann::json &obj, const char *key) {
  if (!obj.is_object() || !obj.contains(key) || !obj[key].is_number()) return 0;
  if (obj[key].is_number_integer() && obj[key].get<int64_t>() < 0) return 0;
  return obj[key].get<uint64_t>();
}

}  // namespace

MigrationParams parse_migration_params(std::string_view json_text, const MigrationPolicy &policy) {
  MigrationParams params;
  params.max_downtime_ms = policy.max_downtime_ms;
  params.bandwidth_mibps = policy.bandwidth_mibps;
  params.auto_converge = policy.auto_converge;
  params.post_copy = policy.post_copy;
  params.multifd_channels = policy.multifd_channels;
  if (json_text.empty()) return params;
  nlohmann::json doc = nlohmann::json::parse(json_text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    throw Failure(HAL_INVALID_ARGUMENT, "migration params: not a JSON object");
  }
  static const char *kKnown[] = {"uri",      "maxDowntimeMs",   "bandwidthMiBps", "autoConverge",
                                 "postCopy", "multifdChannels", "timeoutMs",      "tls"};
  for (const auto &item : doc.items()) {
    bool known = false;
    for (const char *key : kKnown) known = known || item.key() == key;
    if (!known) {
      throw Failure(HAL_INVALID_ARGUMENT, "migration params." + item.key() + ": unknown field");
    }
  }
  if (doc.contains("uri")) {
    if (!doc["uri"].is_string())
      throw Failure(HAL_INVALID_ARGUMENT, "migration params.uri: must be a string");
    params.uri = doc["uri"].get<std::string>();
    if (params.uri.rfind("tcp:", 0) != 0 && params.uri.rfind("unix:", 0) != 0) {
      throw Failure(
          HAL_UNSUPPORTED,
          "migration params.uri: kvm-qemu supports tcp: and unix: URIs, not '" + params.uri + "'");
    }
  }
  read_uint(doc, "maxDowntimeMs", 3600000, params.max_downtime_ms);
  read_uint(doc, "bandwidthMiBps", 1048576, params.bandwidth_mibps);
  read_bool(doc, "autoConverge", params.auto_converge);
  read_bool(doc, "postCopy", params.post_copy);
  read_uint(doc, "multifdChannels", 255, params.multifd_channels);
  read_uint(doc, "timeoutMs", UINT64_MAX >> 1, params.timeout_ms);
  if (doc.contains("tls")) params.tls = parse_migration_tls(doc["tls"]);
  return params;
}

nlohmann::json qmp_capabilities_for(const MigrationParams &params, bool source) {
  nlohmann::json caps = nlohmann::json::array();
  caps.push_back({{"capability", "events"}, {"state", true}});
  if (source) caps.push_back({{"capability", "auto-converge"}, {"state", params.auto_converge}});
  caps.push_back({{"capability", "postcopy-ram"}, {"state", params.post_copy}});
  caps.push_back({{"capability", "multifd"}, {"state", params.multifd_channels > 0}});
  return {{"capabilities", caps}};
}

nlohmann::json qmp_parameters_for(const MigrationParams &params) {
  nlohmann::json args = {{"downtime-limit", params.max_downtime_ms}};
  // max-bandwidth is bytes/s; QEMU's own default is 128 MiB/s, "unlimited" is a huge value.
  const uint64_t bandwidth = params.bandwidth_mibps == 0
                                 ? (uint64_t{1} << 40)
                                 : uint64_t{params.bandwidth_mibps} * 1024 * 1024;
  args["max-bandwidth"] = bandwidth;
  if (params.multifd_channels > 0) args["multifd-channels"] = params.multifd_channels;
  args["tls-creds"] = params.tls ? kMigrationTlsCredsId : "";
  args["tls-hostname"] = params.tls ? params.tls->hostname : "";
  args["tls-authz"] = "";
  return args;
}

std::vector<QmpCommand> qmp_migration_setup(const MigrationParams &params, bool source,
                                            const std::string &tls_dir) {
  std::vector<QmpCommand> commands;
  if (params.tls) {
    if (source) {
      // A QEMU that arrived here by a TLS migration, or sent one before, still has the objects.
      commands.push_back({"object-del", {{"id", kMigrationTlsCredsId}}, true});
      commands.push_back({"object-del", {{"id", kMigrationTlsAuthzId}}, true});
    }
    commands.push_back({"object-add", qmp_tls_creds_object(source, tls_dir)});
    if (!source && !params.tls->peer_subjects.empty())
      commands.push_back({"object-add", qmp_tls_authz_object(params.tls->peer_subjects)});
  }
  commands.push_back({"migrate-set-capabilities", qmp_capabilities_for(params, source)});
  if (source) {
    commands.push_back({"migrate-set-parameters", qmp_parameters_for(params)});
    return commands;
  }
  nlohmann::json args = nlohmann::json::object();
  if (params.multifd_channels > 0) args["multifd-channels"] = params.multifd_channels;
  if (params.tls) {
    args["tls-creds"] = kMigrationTlsCredsId;
    if (!params.tls->peer_subjects.empty()) args["tls-authz"] = kMigrationTlsAuthzId;
  }
  if (!args.empty()) commands.push_back({"migrate-set-parameters", args});
  return commands;
}

std::string hal_migration_status(const std::string &qemu_status) {
  if (qemu_status == "none" || qemu_status == "setup" || qemu_status == "active" ||
      qemu_status == "completed" || qemu_status == "failed" || qemu_status == "cancelled") {
    return qemu_status;
  }
  if (qemu_status.rfind("postcopy", 0) == 0) return "postcopy";
  return "active";  // cancelling, pre-switchover, device, wait-unplug, colo
}

bool is_terminal_status(const std::string &hal_status) {
  return hal_status == "completed" || hal_status == "failed" || hal_status == "cancelled";
}

nlohmann::json progress_from_query_migrate(const nlohmann::json &reply) {
  nlohmann::json progress = {{"status", "none"}};
  if (!reply.is_object()) return progress;
  if (reply.contains("status") && reply["status"].is_string()) {
    progress["status"] = hal_migration_status(reply["status"].get<std::string>());
  }
  if (reply.contains("ram") && reply["ram"].is_object()) {
    const auto &ram = reply["ram"];
    progress["transferredBytes"] = uint_or_zero(ram, "transferred");
    progress["remainingBytes"] = uint_or_zero(ram, "remaining");
    progress["totalBytes"] = uint_or_zero(ram, "total");
    uint64_t page_size = uint_or_zero(ram, "page-size");
    progress["dirtyRateBytesPerSec"] =
        uint_or_zero(ram, "dirty-pages-rate") * (page_size ? page_size : 4096);
  }
  if (reply.contains("expected-downtime")) {
    progress["expectedDowntimeMs"] = uint_or_zero(reply, "expected-downtime");
  }
  if (reply.contains("downtime")) progress["downtimeMs"] = uint_or_zero(reply, "downtime");
  if (reply.contains("error-desc") && reply["error-desc"].is_string()) {
    progress["error"] = reply["error-desc"];
  }
  return progress;
}

}  // namespace hal::kvm_qemu
