// mock_config.cc - parses and validates the mock backend's open() configuration.
#include "mock_config.h"

#include "core/spec/quantity.h"
#include "hal/plugin.hpp"

namespace hal::mock {
namespace {

using nlohmann::json;

[[noreturn]] void bad(const std::string &key, const std::string &why) {
  throw plugin::Failure(HAL_INVALID_ARGUMENT, "config." + key + ": " + why);
}

int64_t get_int(const json &value, const std::string &key, int64_t min) {
  if (!value.is_number_integer()) bad(key, "must be an integer");
  int64_t v = value.get<int64_t>();
  if (v < min) bad(key, "must be >= " + std::to_string(min));
  return v;
}

bool get_bool(const json &value, const std::string &key) {
  if (!value.is_boolean()) bad(key, "must be a boolean");
  return value.get<bool>();
}

std::string get_string(const json &value, const std::string &key) {
  if (!value.is_string()) bad(key, "must be a string");
  return value.get<std::string>();
}

/** Normalises a quantity field to bytes; throws naming `key` when malformed. */
void to_bytes(json &value, const std::string &key) {
  uint64_t bytes = parse_quantity(value);
  if (bytes == 0) bad(key, "must be a positive quantity like \"16Gi\"");
  value = bytes;
}

json default_host() {
  return json::parse(R"({
    "cpus": 8,
    "numaNodes": [
      {"id": 0, "cpus": [0, 1, 2, 3], "memory": 17179869184},
      {"id": 1, "cpus": [4, 5, 6, 7], "memory": 17179869184}],
    "pciDevices": [
      {"address": "0000:3b:00.0", "numaNode": 0, "vendor": "0x10de", "device": "0x20b0",
       "class": "0x0302"},
      {"address": "0000:af:00.0", "numaNode": 1, "vendor": "0x8086", "device": "0x1572",
       "class": "0x0200"}],
    "accelerator": "none"})");
}

void parse_faults(const json &faults, Faults &out) {
  if (!faults.is_object()) bad("faults", "must be an object");
  for (const auto &[key, value] : faults.items()) {
    std::string path = "faults." + key;
    if (key == "failStart") {
      if (!value.is_array()) bad(path, "must be an array of VM names");
      for (const auto &name : value) out.fail_start.insert(get_string(name, path + "[]"));
    } else if (key == "failStartCount") {
      out.fail_start_count = get_int(value, path, 0);
    } else if (key == "crashAfterMs") {
      out.crash_after_ms = get_int(value, path, 0);
    } else if (key == "migration") {
      out.migration = get_string(value, path);
      if (out.migration != "stall" && out.migration != "fail" && !out.migration.empty())
        bad(path, "must be \"stall\" or \"fail\"");
    } else if (key == "slowCallsMs") {
      out.slow_calls_ms = get_int(value, path, 0);
    } else if (key == "ignoreAcpi") {
      out.ignore_acpi = get_bool(value, path);
    } else {
      bad(path, "unknown key");
    }
  }
}

void parse_host(const json &host, Config &config) {
  if (!host.is_object()) bad("host", "must be an object");
  for (const auto &[key, value] : host.items()) {
    std::string path = "host." + key;
    if (key == "cpus") {
      get_int(value, path, 1);
    } else if (key == "numaNodes") {
      if (!value.is_array() || value.empty()) bad(path, "must be a non-empty array");
      config.host["numaNodes"] = value;
      for (size_t i = 0; i < value.size(); ++i) {
        std::string p = path + "[" + std::to_string(i) + "]";
        if (!value[i].is_object()) bad(p, "must be an object");
        if (!value[i].contains("id")) bad(p + ".id", "is required");
        get_int(value[i]["id"], p + ".id", 0);
        if (!value[i].contains("cpus") || !value[i]["cpus"].is_array())
          bad(p + ".cpus", "must be an array of CPU numbers");
        for (const auto &cpu : value[i]["cpus"]) get_int(cpu, p + ".cpus[]", 0);
        json &mine = config.host["numaNodes"][i];
        if (!mine.contains("memory")) mine["memory"] = "16Gi";
        to_bytes(mine["memory"], p + ".memory");
        for (const auto &[k, v] : mine.items())
          if (k != "id" && k != "cpus" && k != "memory") bad(p + "." + k, "unknown key");
      }
      continue;
    } else if (key == "pciDevices") {
      if (!value.is_array()) bad(path, "must be an array");
      for (size_t i = 0; i < value.size(); ++i) {
        std::string p = path + "[" + std::to_string(i) + "]";
        if (!value[i].is_object() || !value[i].contains("address"))
          bad(p + ".address", "is required");
        get_string(value[i]["address"], p + ".address");
        if (!value[i].contains("numaNode")) bad(p + ".numaNode", "is required");
        get_int(value[i]["numaNode"], p + ".numaNode", -1);
      }
    } else if (key == "accelerator") {
      get_string(value, path);
    } else if (key == "memory") {
      json copy = value;
      to_bytes(copy, path);
      config.host[key] = copy;
      continue;
    } else {
      bad(path, "unknown key");
    }
    config.host[key] = value;
  }
}

}  // namespace

uint64_t parse_quantity(const json &value) {
  if (value.is_number_unsigned()) return value.get<uint64_t>();
  if (value.is_number_integer()) return value.get<int64_t>() > 0 ? value.get<uint64_t>() : 0;
  if (!value.is_string()) return 0;
  return hal::parse_quantity(value.get<std::string>()).value_or(0);
}

Config parse_config(std::string_view config_json) {
  Config config;
  config.host = default_host();
  json doc;
  try {
    doc = json::parse(config_json.empty() ? std::string_view("{}") : config_json);
  } catch (const json::exception &e) {
    throw plugin::Failure(HAL_INVALID_ARGUMENT, std::string("config: malformed JSON: ") + e.what());
  }
  if (doc.is_null()) doc = json::object();
  if (!doc.is_object()) throw plugin::Failure(HAL_INVALID_ARGUMENT, "config: must be an object");
  for (const auto &[key, value] : doc.items()) {
    if (key == "instance") {
      config.instance = get_string(value, key);
      if (config.instance.empty()) bad(key, "must not be empty");
    } else if (key == "stateDir") {
      config.state_dir = get_string(value, key);
      if (config.state_dir.empty()) bad(key, "must not be empty");
    } else if (key == "tdx") {
      config.tdx = get_bool(value, key);
    } else if (key == "machine") {
      config.machine = get_string(value, key);
    } else if (key == "host") {
      parse_host(value, config);
    } else if (key == "faults") {
      parse_faults(value, config.faults);
    } else if (key == "migration") {
      if (!value.is_object()) bad(key, "must be an object");
      for (const auto &[k, v] : value.items()) {
        if (k != "bandwidthMiBps") bad("migration." + k, "unknown key");
        if (!v.is_number() || v.get<double>() <= 0) bad("migration." + k, "must be > 0");
        config.bandwidth_mib_per_s = v.get<double>();
      }
    } else if (key == "acpiShutdownMs") {
      config.acpi_shutdown_ms = get_int(value, key, 0);
    } else if (key == "maxVms") {
      config.max_vms = get_int(value, key, 1);
    } else {
      bad(key, "unknown key");
    }
  }
  if (!doc.contains("host") || !doc["host"].contains("memory")) {
    uint64_t total = 0;
    for (const auto &node : config.host["numaNodes"]) total += node["memory"].get<uint64_t>();
    config.host["memory"] = total;
  }
  if (!doc.contains("host") || !doc["host"].contains("cpus")) {
    size_t cpus = 0;
    for (const auto &node : config.host["numaNodes"]) cpus += node["cpus"].size();
    config.host["cpus"] = cpus;
  }
  config.host["tdx"] = {{"supported", config.tdx},
                        {"reason", config.tdx ? "" : "mock configured with tdx=false"}};
  return config;
}

}  // namespace hal::mock
