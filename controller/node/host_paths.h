// host_paths.h - confines the host files a VM spec names (boot.kernel, boot.initrd,
// boot.firmware.path, disks[].path: every "$defs/path" of vm-spec.schema.json) to the node's
// allowed roots, so a spec cannot hand a guest /etc/shadow as a disk (issue 25). Paths are
// canonicalised (symlinks, "..", ".") before the check and the spec keeps the canonical path, so
// the backend opens exactly what was checked.
#ifndef HAL_CONTROLLER_NODE_HOST_PATHS_H
#define HAL_CONTROLLER_NODE_HOST_PATHS_H

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace hal::node {

/** Checks every host path of the VM spec document `spec` against `roots` and replaces each with
 *  its canonical form (std::filesystem::weakly_canonical: symlinks of the existing part resolved,
 *  "." and ".." removed). A path must be absolute and, canonical, lie inside one of the canonical
 *  `roots`. Throws hal::Error(HAL_INVALID_ARGUMENT) naming the field as `<prefix>.<field>` and
 *  listing the roots, e.g. "spec_json.disks[0].path: '/etc/shadow' is outside the allowed host
 *  path roots (/var/lib/hal/images)". Members of the wrong type are left to schema validation. */
void confine_host_paths(nlohmann::json &spec, const std::vector<std::filesystem::path> &roots,
                        std::string_view prefix);

}  // namespace hal::node

#endif  // HAL_CONTROLLER_NODE_HOST_PATHS_H
