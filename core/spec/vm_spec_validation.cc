// vm_spec_validation.cc - schema validation entry points and the cross-field rules of VM specs.
#include "core/spec/vm_spec_validation.h"

#include <map>
#include <mutex>
#include <numeric>
#include <set>

#include "core/spec/embedded_schemas.h"

namespace hal {
namespace {

using nlohmann::json;

constexpr int kMaxJsonDepth = 64;

const json *resolve_embedded(std::string_view document) {
  return embedded_schema(document);
}

// One validator per embedded schema, kept for the process: each keeps its resolved references.
const JsonSchemaValidator &validator_for(const json &schema) {
  static std::mutex mutex;
  static auto *validators = new std::map<const json *, JsonSchemaValidator>();
  std::lock_guard lock(mutex);
  return validators->try_emplace(&schema, schema, resolve_embedded).first->second;
}

std::vector<FieldError> schema_errors(std::string_view schema_name, const json &doc,
                                      std::string_view root) {
  const json *schema = embedded_schema(schema_name);
  if (schema == nullptr) {
    return {{std::string(root), "unknown schema \"" + std::string(schema_name) + "\""}};
  }
  return validator_for(*schema).validate(doc, root);
}

std::string join_ids(const std::vector<uint64_t> &ids) {
  std::string out;
  for (uint64_t id : ids) out += (out.empty() ? "" : ", ") + std::to_string(id);
  return out;
}

// The cross-field rules. The spec already satisfies the schema, so shapes and types hold.
class SemanticChecker {
 public:
  SemanticChecker(const json &spec, std::string_view root) : spec_(spec), root_(root) {}

  std::vector<FieldError> run() {
    vcpus_ = spec_["cpu"]["vcpus"].get<uint64_t>();
    check_topology();
    check_memory();
    check_numa();
    check_pinning();
    check_names();
    check_host_devices();
    check_boot();
    check_launch_security();
    return std::move(errors_);
  }

 private:
  std::string path(std::string_view suffix) const { return root_ + "." + std::string(suffix); }
  void add(std::string p, std::string message) {
    errors_.push_back({std::move(p), std::move(message)});
  }
  static std::string idx(size_t i) { return "[" + std::to_string(i) + "]"; }

  void check_topology() {
    const json &cpu = spec_["cpu"];
    if (!cpu.contains("topology")) return;
    const json &t = cpu["topology"];
    const uint64_t s = t["sockets"], c = t["cores"], th = t["threads"];
    if (s * c * th != vcpus_) {
      add(path("cpu.topology"), "sockets*cores*threads = " + std::to_string(s) + "*" +
                                    std::to_string(c) + "*" + std::to_string(th) + " = " +
                                    std::to_string(s * c * th) + " must equal cpu.vcpus (" +
                                    std::to_string(vcpus_) + ")");
    }
  }

  void check_memory() {
    const json &memory = spec_["memory"];
    const auto size = parse_quantity(memory["size"].get<std::string>());
    if (!size) {
      add(path("memory.size"), "quantity out of range or not a whole number of bytes");
      return;
    }
    memory_size_ = *size;
    if (*size == 0) {
      add(path("memory.size"), "must be a positive quantity");
      return;
    }
    const std::string hugepages = memory.value("hugepages", "none");
    if (hugepages != "none") {
      hugepage_bytes_ = *parse_quantity(hugepages);
      if (*size % hugepage_bytes_ != 0) {
        add(path("memory.size"), "must be a multiple of the hugepage size " + hugepages);
      }
    }
  }

  void check_numa() {
    if (!spec_.contains("numa")) return;
    const json &nodes = spec_["numa"]["nodes"];
    const size_t n = nodes.size();
    std::map<uint64_t, size_t> id_owner;
    std::map<uint64_t, size_t> vcpu_owner;
    uint64_t sum = 0;
    bool sum_valid = true;
    for (size_t i = 0; i < n; ++i) {
      const json &node = nodes[i];
      const std::string node_path = path("numa.nodes") + idx(i);
      const uint64_t id = node["id"];
      if (auto [it, inserted] = id_owner.emplace(id, i); !inserted) {
        add(node_path + ".id",
            "duplicate node id " + std::to_string(id) + " (also nodes" + idx(it->second) + ")");
      } else if (id >= n) {
        add(node_path + ".id", "must be less than the number of nodes (" + std::to_string(n) +
                                   "); ids are 0.." + std::to_string(n - 1));
      }
      node_ids_.insert(id);
      const json &vcpus = node["vcpus"];
      for (size_t j = 0; j < vcpus.size(); ++j) {
        const uint64_t v = vcpus[j];
        const std::string vcpu_path = node_path + ".vcpus" + idx(j);
        if (v >= vcpus_) {
          add(vcpu_path, "vCPU " + std::to_string(v) + " does not exist (cpu.vcpus is " +
                             std::to_string(vcpus_) + ")");
        } else if (auto [it, inserted] = vcpu_owner.emplace(v, i); !inserted && it->second != i) {
          add(vcpu_path, "vCPU " + std::to_string(v) + " is already in nodes" + idx(it->second));
        }
      }
      const auto mem = parse_quantity(node["memory"].get<std::string>());
      if (!mem || *mem == 0) {
        add(node_path + ".memory", "must be a positive quantity");
        sum_valid = false;
        continue;
      }
      if (hugepage_bytes_ != 0 && *mem % hugepage_bytes_ != 0) {
        add(node_path + ".memory", "must be a multiple of the hugepage size " +
                                       spec_["memory"]["hugepages"].get<std::string>());
      }
      if (sum > UINT64_MAX - *mem) sum_valid = false;
      sum += *mem;
    }
    std::vector<uint64_t> missing;
    for (uint64_t v = 0; v < vcpus_; ++v) {
      if (!vcpu_owner.contains(v)) missing.push_back(v);
    }
    if (!missing.empty()) {
      add(path("numa.nodes"), (missing.size() == 1 ? "vCPU " : "vCPUs ") + join_ids(missing) +
                                  (missing.size() == 1 ? " is" : " are") + " in no node");
    }
    if (sum_valid && memory_size_ != 0 && sum != memory_size_) {
      add(path("numa.nodes"), "node memory adds up to " + format_quantity(sum) +
                                  " but memory.size is " + format_quantity(memory_size_));
    }
  }

  void check_pinning() {
    const json &cpu = spec_["cpu"];
    if (!cpu.contains("pinning")) return;
    const json &pins = cpu["pinning"];
    std::map<uint64_t, size_t> owner;
    for (size_t i = 0; i < pins.size(); ++i) {
      const uint64_t v = pins[i]["vcpu"];
      const std::string p = path("cpu.pinning") + idx(i) + ".vcpu";
      if (v >= vcpus_) {
        add(p, "vCPU " + std::to_string(v) + " does not exist (cpu.vcpus is " +
                   std::to_string(vcpus_) + ")");
      } else if (auto [it, inserted] = owner.emplace(v, i); !inserted) {
        add(p, "vCPU " + std::to_string(v) + " is already pinned by pinning" + idx(it->second));
      }
    }
  }

  // Disk, NIC and host-device names share one namespace (hot-detach takes a bare name).
  void check_names() {
    std::map<std::string, std::string> owner;
    for (const char *list : {"disks", "nics", "hostDevices"}) {
      if (!spec_.contains(list)) continue;
      const json &items = spec_[list];
      for (size_t i = 0; i < items.size(); ++i) {
        const std::string name = items[i]["name"];
        const std::string p = path(list) + idx(i) + ".name";
        if (auto [it, inserted] = owner.emplace(name, p); !inserted) {
          add(p, "duplicate device name \"" + name + "\" (also " + it->second + ")");
        }
      }
    }
  }

  void check_host_devices() {
    if (!spec_.contains("hostDevices")) return;
    const json &devices = spec_["hostDevices"];
    const bool has_numa = spec_.contains("numa");
    for (size_t i = 0; i < devices.size(); ++i) {
      const json &d = devices[i];
      const std::string p = path("hostDevices") + idx(i);
      const std::string type = d["type"];
      if (type == "pci" && !d.contains("pciAddress"))
        add(p + ".pciAddress", "is required for type pci");
      if (type == "pci" && d.contains("model"))
        add(p + ".model", "is only allowed for type emulated");
      if (type == "emulated" && !d.contains("model"))
        add(p + ".model", "is required for type emulated");
      if (type == "emulated" && d.contains("pciAddress"))
        add(p + ".pciAddress", "is only allowed for type pci");
      if (d.contains("guestNumaNode")) {
        const uint64_t g = d["guestNumaNode"];
        if (has_numa && !node_ids_.contains(g)) {
          add(p + ".guestNumaNode", "guest NUMA node " + std::to_string(g) + " does not exist");
        } else if (!has_numa && g != 0) {
          add(p + ".guestNumaNode", "guest NUMA node " + std::to_string(g) +
                                        " does not exist (no numa section: only node 0)");
        }
      }
    }
  }

  void check_boot() {
    if (!spec_.contains("boot")) return;
    const json &boot = spec_["boot"];
    const bool kernel = boot.contains("kernel");
    const bool firmware = boot.contains("firmware");
    if (kernel && firmware) {
      add(path("boot"), "kernel and firmware are mutually exclusive");
    } else if (!kernel && !firmware) {
      add(path("boot"), "needs either kernel or firmware");
    }
    for (const char *field : {"initrd", "cmdline"}) {
      if (boot.contains(field) && !kernel) add(path("boot.") + field, "requires boot.kernel");
    }
  }

  void check_launch_security() {
    if (!spec_.contains("launchSecurity")) return;
    const json &ls = spec_["launchSecurity"];
    const std::string type = ls["type"];
    if (type != "tdx" && ls.contains("tdx")) {
      add(path("launchSecurity.tdx"), "is only allowed when launchSecurity.type is tdx");
    }
    if (type == "tdx" && spec_.contains("migration") &&
        spec_["migration"].value("postCopy", false)) {
      add(path("migration.postCopy"), "post-copy migration is not supported for TDX guests");
    }
  }

  const json &spec_;
  std::string root_;
  uint64_t vcpus_ = 0;
  uint64_t memory_size_ = 0;
  uint64_t hugepage_bytes_ = 0;
  std::set<uint64_t> node_ids_;
  std::vector<FieldError> errors_;
};

}  // namespace

std::vector<FieldError> check_vm_spec_semantics(const nlohmann::json &spec, std::string_view root) {
  return SemanticChecker(spec, root).run();
}

std::vector<FieldError> validate_document(std::string_view schema_name, const nlohmann::json &doc,
                                          std::string_view root) {
  auto errors = schema_errors(schema_name, doc, root);
  if (!errors.empty()) return errors;
  const std::string name(schema_name);
  if (name == "vm-spec" || name == "vm-spec.schema.json") {
    return check_vm_spec_semantics(doc, root);
  }
  if ((name == "vm-info" || name == "vm-info.schema.json") && doc.contains("spec")) {
    return check_vm_spec_semantics(doc["spec"], std::string(root) + ".spec");
  }
  return errors;
}

std::vector<FieldError> validate_vm_spec(const nlohmann::json &spec) {
  return validate_document("vm-spec", spec, "spec");
}

std::vector<FieldError> validate_vm_spec_text(std::string_view text) {
  json spec;
  try {
    // The callback bounds nesting so hostile input cannot exhaust the stack later on.
    spec = json::parse(text, [](int depth, json::parse_event_t, json &) {
      if (depth > kMaxJsonDepth) {
        throw std::length_error("JSON nested deeper than " + std::to_string(kMaxJsonDepth));
      }
      return true;
    });
  } catch (const json::parse_error &e) {
    std::string what = e.what();
    if (auto pos = what.find("] "); pos != std::string::npos) what = what.substr(pos + 2);
    return {{"spec", "invalid JSON at byte " + std::to_string(e.byte) + ": " + what}};
  } catch (const json::exception &e) {
    // e.g. out_of_range.406 "number overflow parsing '1e777777'" (found by the fuzzer).
    std::string what = e.what();
    if (auto pos = what.find("] "); pos != std::string::npos) what = what.substr(pos + 2);
    return {{"spec", "invalid JSON: " + what}};
  } catch (const std::length_error &e) {
    return {{"spec", std::string("invalid JSON: ") + e.what()}};
  }
  return validate_vm_spec(spec);
}

std::string format_errors(const std::vector<FieldError> &errors) {
  std::string out;
  for (const auto &e : errors) {
    if (!out.empty()) out += '\n';
    out += e.path + ": " + e.message;
  }
  return out;
}

}  // namespace hal
