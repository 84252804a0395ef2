// host_path_roots.cc - check_host_path_roots: a VM's hostDisk paths against the host path roots
// its NodePool declares (kubevirt_api.h). The controller cannot see the node's filesystem, so it
// judges the path lexically ("." and ".." removed); the node checks again after resolving
// symlinks, whatever the controller decided.
#include <filesystem>

#include "controller/api/kubevirt_api.h"

namespace hal::controller {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

bool inside(const fs::path &path, const fs::path &root) {
  fs::path relative = path.lexically_relative(root);
  return !relative.empty() && *relative.begin() != "..";
}

}  // namespace

std::vector<std::string> pool_host_path_roots(const json &node_pool) {
  std::vector<std::string> roots;
  const json *spec =
      node_pool.is_object() && node_pool.contains("spec") ? &node_pool["spec"] : nullptr;
  if (spec == nullptr || !spec->is_object() || !spec->contains("hostPathRoots")) return roots;
  for (const json &root : (*spec)["hostPathRoots"]) {
    if (root.is_string()) roots.push_back(root.get<std::string>());
  }
  return roots;
}

std::vector<FieldError> check_host_path_roots(const json &vmi_spec, std::string_view path,
                                              const std::string &pool,
                                              const std::vector<std::string> &roots) {
  std::vector<FieldError> errors;
  if (!vmi_spec.is_object() || !vmi_spec.contains("volumes") || !vmi_spec["volumes"].is_array())
    return errors;
  std::string listed;
  for (const std::string &root : roots) listed += (listed.empty() ? "" : ", ") + root;
  const json &volumes = vmi_spec["volumes"];
  for (size_t i = 0; i < volumes.size(); ++i) {
    const json &volume = volumes[i];
    if (!volume.is_object() || !volume.contains("hostDisk") || !volume["hostDisk"].is_object())
      continue;
    const std::string file = volume["hostDisk"].value("path", std::string());
    const fs::path normal = fs::path(file).lexically_normal();
    bool allowed = false;
    for (const std::string &root : roots)
      allowed = allowed || inside(normal, fs::path(root).lexically_normal());
    if (!allowed) {
      errors.push_back({std::string(path) + ".volumes[" + std::to_string(i) + "].hostDisk.path",
                        "'" + file + "' is outside the host path roots of NodePool " + pool + " (" +
                            listed + ")"});
    }
  }
  return errors;
}

}  // namespace hal::controller
