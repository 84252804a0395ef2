// validate_kinds.cc - validate_object and the per-kind validators (VirtualMachine,
// VirtualMachineInstance, VirtualMachineInstanceMigration, NodePool; Node is read-only; the RBAC
// kinds are in validate_rbac.cc), object metadata, format_errors and canonical_kind.
#include <algorithm>
#include <cctype>

#include "controller/api/kubevirt_api.h"
#include "controller/api/rbac_api.h"
#include "controller/api/validators.h"

namespace hal::controller {
namespace detail {
namespace {

using nlohmann::json;

constexpr std::string_view kKubeVirt = "kubevirt.io/v1";
constexpr std::string_view kHal = "hal.dev/v1";

const Rejections &metadata_rejections() {
  static const Rejections r = {
      {"generateName", "generated names are not supported; set metadata.name"},
      {"ownerReferences", "owner references are not supported by HAL"},
      {"finalizers", "finalizers are not supported by HAL"},
      {"deletionGracePeriodSeconds", "set by the server only"},
      {"managedFields", "server-side apply field management is not supported by HAL"},
      {"selfLink", "not used by HAL"}};
  return r;
}

void check_top(const json &object, Errors &errors) {
  check_fields(object, "", {"apiVersion", "kind", "metadata", "spec", "status"}, {}, errors);
  if (!object.contains("spec")) errors.add("spec", "is required");
}

}  // namespace

namespace {

// An RBAC object name: Kubernetes allows any path segment; HAL takes the usual subset, which
// covers names like "kubevirt.io:edit" and "system:node-viewer".
bool is_rbac_name(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(s.front()) || !alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(),
                     [&](char c) { return alnum(c) || c == '-' || c == '.' || c == ':'; });
}

}  // namespace

void validate_metadata(const json &object, Scope scope, Errors &errors, NameRule names) {
  auto it = object.find("metadata");
  if (it == object.end()) {
    errors.add("metadata.name", "is required");
    return;
  }
  const json &meta = *it;
  if (!check_fields(meta, "metadata",
                    {"name", "namespace", "labels", "annotations", "uid", "resourceVersion",
                     "generation", "creationTimestamp", "deletionTimestamp"},
                    metadata_rejections(), errors)) {
    return;
  }
  auto name = get_string(meta, "name", "metadata", errors);
  if (!meta.contains("name")) {
    errors.add("metadata.name", "is required");
  } else if (name && names == NameRule::kRbacName) {
    if (!is_rbac_name(*name)) {
      errors.add("metadata.name", "\"" + *name +
                                      "\" must be at most 253 lower-case letters, digits, '-', "
                                      "'.' and ':', starting and ending with a letter or digit");
    }
  } else if (name && !is_dns_label(*name)) {
    errors.add("metadata.name",
               "\"" + *name +
                   "\" must be a DNS-1123 label: at most 63 "
                   "lower-case letters, digits and '-', starting and ending with a "
                   "letter or digit");
  }
  auto ns = get_string(meta, "namespace", "metadata", errors);
  if (scope == Scope::kCluster) {
    if (ns && !ns->empty()) {
      errors.add("metadata.namespace",
                 "must be empty: " + object.value("kind", std::string()) + " is cluster-scoped");
    }
  } else if (ns && !is_dns_label(*ns)) {
    errors.add("metadata.namespace", "\"" + *ns + "\" must be a DNS-1123 label");
  }
  check_string_map(meta, "labels", "metadata", true, errors);
  check_string_map(meta, "annotations", "metadata", false, errors);
}

// The HAL VM id (hal_vm_id: namespace with '-' doubled, '-', name) must fit a DNS-1123 label.
void check_vm_id_length(const json &object, Errors &errors) {
  const json *meta = object.contains("metadata") ? &object["metadata"] : nullptr;
  if (meta == nullptr || !meta->is_object()) return;
  auto name = meta->find("name");
  if (name == meta->end() || !name->is_string()) return;
  std::string ns = "default";
  if (auto n = meta->find("namespace"); n != meta->end() && n->is_string() && !n->empty()) {
    ns = n->get<std::string>();
  }
  const std::string &name_text = name->get_ref<const std::string &>();
  if (!is_dns_label(name_text) || !is_dns_label(ns) || !hal_vm_id(ns, name_text).empty()) return;
  size_t length = ns.size() + std::count(ns.begin(), ns.end(), '-') + 1 + name_text.size();
  errors.add("metadata.name",
             "the HAL VM id (the namespace with each '-' doubled, '-', the name) must be at most "
             "63 characters (it would be " +
                 std::to_string(length) + ")");
}

void validate_virtual_machine(const json &object, Errors &errors) {
  check_top(object, errors);
  validate_metadata(object, Scope::kNamespaced, errors);
  check_vm_id_length(object, errors);
  auto it = object.find("spec");
  if (it == object.end()) return;
  const json &spec = *it;
  if (!check_fields(spec, "spec", {"running", "runStrategy", "template"},
                    {{"dataVolumeTemplates",
                      "DataVolume templates need CDI, which HAL does not have; use "
                      "hostDisk or containerDisk volumes"},
                     {"instancetype",
                      "instance types are not supported by HAL; set the domain fields "
                      "in the template"},
                     {"preference",
                      "preferences are not supported by HAL; set the domain fields in the "
                      "template"},
                     {"updateVolumesStrategy",
                      "volume updates (storage migration) are not supported by "
                      "HAL"}},
                    errors)) {
    return;
  }
  get_bool(spec, "running", "spec", errors);
  auto strategy = get_string(spec, "runStrategy", "spec", errors);
  if (spec.contains("running") && spec.contains("runStrategy")) {
    errors.add("spec.running",
               "spec.running and spec.runStrategy are mutually exclusive; set "
               "only spec.runStrategy (running is deprecated)");
  }
  if (strategy) {
    static const char *const valid[] = {"Always", "RerunOnFailure", "Manual", "Halted", "Once"};
    if (*strategy == "WaitAsReceiver") {
      errors.add("spec.runStrategy",
                 "WaitAsReceiver (decentralized migration) is not supported "
                 "by HAL");
    } else if (std::none_of(std::begin(valid), std::end(valid),
                            [&](const char *v) { return *strategy == v; })) {
      errors.add("spec.runStrategy",
                 "must be Always, RerunOnFailure, Manual, Halted or Once, "
                 "not \"" +
                     *strategy + "\"");
    }
  }
  auto t = spec.find("template");
  if (t == spec.end()) {
    errors.add("spec.template", "is required");
    return;
  }
  if (!check_fields(*t, "spec.template", {"metadata", "spec"}, {}, errors)) return;
  if (auto m = t->find("metadata"); m != t->end()) {
    if (check_fields(*m, "spec.template.metadata", {"labels", "annotations", "creationTimestamp"},
                     {{"name", "the VirtualMachineInstance takes the VirtualMachine's name"},
                      {"namespace",
                       "the VirtualMachineInstance takes the VirtualMachine's "
                       "namespace"},
                      {"generateName",
                       "the VirtualMachineInstance takes the VirtualMachine's "
                       "name"}},
                     errors)) {
      check_string_map(*m, "labels", "spec.template.metadata", true, errors);
      check_string_map(*m, "annotations", "spec.template.metadata", false, errors);
    }
  }
  if (!t->contains("spec")) {
    errors.add("spec.template.spec", "is required");
    return;
  }
  validate_vmi_spec((*t)["spec"], "spec.template.spec", errors);
}

void validate_virtual_machine_instance(const json &object, Errors &errors) {
  check_top(object, errors);
  validate_metadata(object, Scope::kNamespaced, errors);
  check_vm_id_length(object, errors);
  if (object.contains("spec")) validate_vmi_spec(object["spec"], "spec", errors);
}

void validate_migration(const json &object, Errors &errors) {
  check_top(object, errors);
  validate_metadata(object, Scope::kNamespaced, errors);
  auto it = object.find("spec");
  if (it == object.end()) return;
  if (!check_fields(*it, "spec", {"vmiName", "addedNodeSelector"},
                    {{"priority", "migration priorities are not supported by HAL"},
                     {"sendTo", "decentralized migration is not supported by HAL"},
                     {"receive", "decentralized migration is not supported by HAL"}},
                    errors)) {
    return;
  }
  auto vmi = get_string(*it, "vmiName", "spec", errors);
  if (!it->contains("vmiName") || (vmi && vmi->empty())) {
    errors.add("spec.vmiName", "is required: the VirtualMachineInstance to migrate");
  } else if (vmi && !is_dns_label(*vmi)) {
    errors.add("spec.vmiName", "must be a DNS-1123 label (a VirtualMachineInstance name)");
  }
  check_string_map(*it, "addedNodeSelector", "spec", true, errors);
}

void validate_node_pool(const json &object, Errors &errors) {
  check_top(object, errors);
  validate_metadata(object, Scope::kCluster, errors);
  auto it = object.find("spec");
  if (it == object.end()) return;
  if (!check_fields(*it, "spec", {"nodeSelector", "backend", "hostPathRoots"}, {}, errors)) return;
  if (auto roots = it->find("hostPathRoots"); roots != it->end()) {
    if (!roots->is_array()) {
      errors.add("spec.hostPathRoots", "must be a list of absolute directory paths");
    } else {
      for (size_t i = 0; i < roots->size(); ++i) {
        const json &root = (*roots)[i];
        if (!root.is_string() || root.get<std::string>().empty() ||
            root.get<std::string>().front() != '/')
          errors.add("spec.hostPathRoots[" + std::to_string(i) + "]",
                     "must be an absolute directory path");
      }
    }
  }
  if (!it->contains("nodeSelector")) {
    errors.add("spec.nodeSelector", "is required: the node labels that make a node a member");
  } else {
    check_string_map(*it, "nodeSelector", "spec", true, errors);
  }
  auto b = it->find("backend");
  if (b == it->end()) {
    errors.add("spec.backend", "is required: {plugin: NAME, config: {...}}");
    return;
  }
  if (!check_fields(*b, "spec.backend", {"plugin", "config"}, {}, errors)) return;
  auto plugin = get_string(*b, "plugin", "spec.backend", errors);
  if (!b->contains("plugin")) {
    errors.add("spec.backend.plugin", "is required: the backend plugin's name (e.g. kvm-qemu)");
  } else if (plugin) {
    bool ok = !plugin->empty() && plugin->size() <= 64 &&
              std::isalnum(static_cast<unsigned char>(plugin->front())) != 0 &&
              std::all_of(plugin->begin(), plugin->end(), [](char c) {
                return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                       c == '.';
              });
    if (!ok) {
      errors.add("spec.backend.plugin",
                 "must be a plugin name: lower-case letters, digits, '-', '_', '.'");
    }
  }
  if (auto c = b->find("config"); c != b->end() && !c->is_object()) {
    errors.add("spec.backend.config", std::string("must be an object, not ") + c->type_name());
  }
}

}  // namespace detail

using nlohmann::json;

std::vector<FieldError> validate_object(const json &object) {
  detail::Errors errors;
  if (!object.is_object()) {
    errors.add("", std::string("a manifest must be an object, not ") + object.type_name());
    return errors.take();
  }
  auto kind_it = object.find("kind");
  auto api_it = object.find("apiVersion");
  if (kind_it == object.end() || !kind_it->is_string() || kind_it->get<std::string>().empty()) {
    errors.add("kind",
               "is required (VirtualMachine, VirtualMachineInstance, "
               "VirtualMachineInstanceMigration, NodePool, Role, ClusterRole, RoleBinding or "
               "ClusterRoleBinding)");
    return errors.take();
  }
  const std::string kind = kind_it->get<std::string>();
  std::string_view expected;
  void (*validator)(const json &, detail::Errors &) = nullptr;
  if (kind == "VirtualMachine") {
    expected = detail::kKubeVirt;
    validator = detail::validate_virtual_machine;
  } else if (kind == "VirtualMachineInstance") {
    expected = detail::kKubeVirt;
    validator = detail::validate_virtual_machine_instance;
  } else if (kind == "VirtualMachineInstanceMigration") {
    expected = detail::kKubeVirt;
    validator = detail::validate_migration;
  } else if (kind == "NodePool") {
    expected = detail::kHal;
    validator = detail::validate_node_pool;
  } else if (kind == kRoleKind || kind == kClusterRoleKind) {
    expected = kRbacApiVersion;
    validator = detail::validate_role;
  } else if (kind == kRoleBindingKind || kind == kClusterRoleBindingKind) {
    expected = kRbacApiVersion;
    validator = detail::validate_role_binding;
  } else if (kind == "Node") {
    errors.add("kind",
               "Node objects are read-only: hal-node registers and updates them, they "
               "cannot be applied");
    return errors.take();
  } else {
    errors.add("kind", "unknown kind \"" + kind +
                           "\" (VirtualMachine, VirtualMachineInstance, "
                           "VirtualMachineInstanceMigration, NodePool, Role, ClusterRole, "
                           "RoleBinding or ClusterRoleBinding)");
    return errors.take();
  }
  if (api_it == object.end()) {
    errors.add("apiVersion", "is required: " + kind + " is " + std::string(expected));
  } else if (!api_it->is_string() || api_it->get<std::string>() != expected) {
    errors.add("apiVersion",
               kind + " is served as " + std::string(expected) + ", not " +
                   (api_it->is_string() ? api_it->get<std::string>() : api_it->dump()));
  }
  validator(object, errors);
  return errors.take();
}

std::string format_errors(const json &object, const std::vector<FieldError> &errors) {
  std::string kind = "object", name = "<unnamed>";
  if (object.is_object()) {
    if (auto k = object.find("kind"); k != object.end() && k->is_string() && !k->empty()) {
      kind = k->get<std::string>();
    }
    if (auto m = object.find("metadata"); m != object.end() && m->is_object()) {
      if (auto n = m->find("name"); n != m->end() && n->is_string() && !n->empty()) {
        name = n->get<std::string>();
      }
    }
  }
  std::transform(kind.begin(), kind.end(), kind.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string out;
  for (const auto &e : errors) {
    if (!out.empty()) out += '\n';
    out += kind + "/" + name + ": " + (e.path.empty() ? "(object)" : e.path) + ": " + e.message;
  }
  return out;
}

std::optional<std::string> canonical_kind(std::string_view name) {
  std::string n(name);
  std::transform(n.begin(), n.end(), n.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  static const std::pair<const char *, const char *> table[] = {
      {"vm", "VirtualMachine"},
      {"vms", "VirtualMachine"},
      {"virtualmachine", "VirtualMachine"},
      {"virtualmachines", "VirtualMachine"},
      {"vmi", "VirtualMachineInstance"},
      {"vmis", "VirtualMachineInstance"},
      {"virtualmachineinstance", "VirtualMachineInstance"},
      {"virtualmachineinstances", "VirtualMachineInstance"},
      {"vmim", "VirtualMachineInstanceMigration"},
      {"vmims", "VirtualMachineInstanceMigration"},
      {"virtualmachineinstancemigration", "VirtualMachineInstanceMigration"},
      {"virtualmachineinstancemigrations", "VirtualMachineInstanceMigration"},
      {"np", "NodePool"},
      {"nodepool", "NodePool"},
      {"nodepools", "NodePool"},
      {"no", "Node"},
      {"node", "Node"},
      {"nodes", "Node"},
      {"ev", "Event"},
      {"event", "Event"},
      {"events", "Event"},
      {"role", "Role"},
      {"roles", "Role"},
      {"clusterrole", "ClusterRole"},
      {"clusterroles", "ClusterRole"},
      {"rolebinding", "RoleBinding"},
      {"rolebindings", "RoleBinding"},
      {"clusterrolebinding", "ClusterRoleBinding"},
      {"clusterrolebindings", "ClusterRoleBinding"},
  };
  for (const auto &[alias, kind] : table) {
    if (n == alias) return std::string(kind);
  }
  return std::nullopt;
}

}  // namespace hal::controller
