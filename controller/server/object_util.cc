// object_util.cc - JSON object helpers.
#include "controller/server/object_util.h"

#include <strings.h>

#include <ctime>
#include <random>

#include "controller/api/kubevirt_api.h"
#include "controller/api/rbac_api.h"

namespace hal::controller {

std::string now_rfc3339() {
  std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

std::chrono::system_clock::time_point parse_rfc3339(const std::string &text) {
  std::tm tm{};
  if (strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm) == nullptr) return {};
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

std::string new_uid() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  uint64_t a = random(), b = random();
  a = (a & 0xffffffffffff0fffull) | 0x0000000000004000ull;
  b = (b & 0x3fffffffffffffffull) | 0x8000000000000000ull;
  char text[40];
  snprintf(text, sizeof text, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(a >> 32),
           static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xffff),
           static_cast<unsigned>(b >> 48), static_cast<unsigned long long>(b & 0xffffffffffffull));
  return text;
}

bool cluster_scoped(const std::string &kind) {
  return is_cluster_scoped_kind(kind);
}

StoreKey key_of(const nlohmann::json &object) {
  StoreKey key;
  key.kind = object.value("kind", "");
  const auto &metadata = member_or_empty(object, "metadata");
  key.name = metadata.is_object() ? metadata.value("name", "") : "";
  if (!cluster_scoped(key.kind)) {
    key.ns = metadata.is_object() ? metadata.value("namespace", "default") : "default";
    if (key.ns.empty()) key.ns = "default";
  }
  return key;
}

const nlohmann::json *find_condition(const nlohmann::json &conditions, const std::string &type) {
  if (!conditions.is_array()) return nullptr;
  for (const auto &condition : conditions) {
    if (condition.value("type", "") == type) return &condition;
  }
  return nullptr;
}

const nlohmann::json &member_or_empty(const nlohmann::json &object, const char *key) {
  static const nlohmann::json empty = nlohmann::json::object();
  if (!object.is_object()) return empty;
  auto member = object.find(key);
  return member == object.end() ? empty : *member;
}

const nlohmann::json &conditions_of(const nlohmann::json &object) {
  static const nlohmann::json empty = nlohmann::json::array();
  if (!object.is_object()) return empty;
  auto status = object.find("status");
  if (status == object.end() || !status->is_object()) return empty;
  auto conditions = status->find("conditions");
  return conditions == status->end() ? empty : *conditions;
}

bool set_condition(nlohmann::json &conditions, const std::string &type, bool status,
                   const std::string &reason, const std::string &message) {
  if (!conditions.is_array()) conditions = nlohmann::json::array();
  const std::string value = status ? "True" : "False";
  for (auto &condition : conditions) {
    if (condition.value("type", "") != type) continue;
    bool changed = false;
    if (condition.value("status", "") != value) {
      condition["status"] = value;
      condition["lastTransitionTime"] = now_rfc3339();
      changed = true;
    }
    if (condition.value("reason", "") != reason) {
      condition["reason"] = reason;
      changed = true;
    }
    if (condition.value("message", "") != message) {
      condition["message"] = message;
      changed = true;
    }
    return changed;
  }
  conditions.push_back({{"type", type},
                        {"status", value},
                        {"reason", reason},
                        {"message", message},
                        {"lastTransitionTime", now_rfc3339()}});
  return true;
}

bool remove_condition(nlohmann::json &conditions, const std::string &type) {
  if (!conditions.is_array()) return false;
  for (auto it = conditions.begin(); it != conditions.end(); ++it) {
    if (it->value("type", "") == type) {
      conditions.erase(it);
      return true;
    }
  }
  return false;
}

bool migration_active(const nlohmann::json &vmi) {
  if (!vmi.contains("status") || !vmi["status"].contains("migrationState")) return false;
  const nlohmann::json &state = vmi["status"]["migrationState"];
  return !state.value("completed", false) && !state.value("failed", false);
}

std::string vm_id_for(const std::string &ns, const std::string &name) {
  return hal_vm_id(ns, name);
}

std::string vm_id_of(const nlohmann::json &vmi, const std::string &ns, const std::string &name) {
  std::string id = str_at(vmi, nlohmann::json::json_pointer("/status/hal/vmId"));
  return id.empty() ? vm_id_for(ns, name) : id;
}

std::string run_strategy(const nlohmann::json &vm) {
  const auto &spec = member_or_empty(vm, "spec");
  if (spec.is_object()) {
    if (spec.contains("runStrategy") && spec["runStrategy"].is_string()) {
      return spec["runStrategy"].get<std::string>();
    }
    if (spec.contains("running") && spec["running"].is_boolean()) {
      return spec["running"].get<bool>() ? "Always" : "Halted";
    }
  }
  return "Halted";
}

bool state_is(const std::string &state, const char *name) {
  return strcasecmp(state.c_str(), name) == 0;
}

std::string str_at(const nlohmann::json &object, const nlohmann::json::json_pointer &pointer) {
  try {
    if (!object.contains(pointer)) return "";
    const auto &value = object.at(pointer);
    return value.is_string() ? value.get<std::string>() : "";
  } catch (const nlohmann::json::exception &) {
    return "";
  }
}

}  // namespace hal::controller
