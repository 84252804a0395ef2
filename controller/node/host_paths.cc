// host_paths.cc - confine_host_paths (host_paths.h).
#include "controller/node/host_paths.h"

#include <algorithm>
#include <system_error>

#include "hal/host.hpp"

namespace hal::node {
namespace fs = std::filesystem;

namespace {

// True when `path` is `root` or below it (both canonical, absolute).
bool inside(const fs::path &path, const fs::path &root) {
  auto [root_end, path_it] = std::mismatch(root.begin(), root.end(), path.begin(), path.end());
  // A trailing empty component ("/a/b/") matches anything below.
  return root_end == root.end() || (std::next(root_end) == root.end() && root_end->empty());
}

std::string list(const std::vector<fs::path> &roots) {
  std::string text;
  for (const fs::path &root : roots) text += (text.empty() ? "" : ", ") + root.string();
  return text.empty() ? "none configured" : text;
}

// Checks and canonicalises the string at spec[key] when it is one.
void confine(nlohmann::json &object, const char *key, const std::string &field,
             const std::vector<fs::path> &canonical_roots, const std::vector<fs::path> &roots) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return;
  const fs::path given = it->get<std::string>();
  if (!given.is_absolute())
    throw Error(HAL_INVALID_ARGUMENT,
                field + ": '" + given.string() + "' must be an absolute path");
  std::error_code ec;
  const fs::path canonical = fs::weakly_canonical(given, ec);
  if (ec)
    throw Error(HAL_INVALID_ARGUMENT,
                field + ": '" + given.string() + "' cannot be resolved: " + ec.message());
  for (const fs::path &root : canonical_roots) {
    if (inside(canonical, root)) {
      *it = canonical.string();
      return;
    }
  }
  std::string shown = "'" + given.string() + "'";
  if (canonical != given) shown += " (" + canonical.string() + ")";
  throw Error(
      HAL_INVALID_ARGUMENT,
      field + ": " + shown + " is outside the allowed host path roots (" + list(roots) + ")");
}

}  // namespace

void confine_host_paths(nlohmann::json &spec, const std::vector<fs::path> &roots,
                        std::string_view prefix) {
  if (!spec.is_object()) return;
  std::vector<fs::path> canonical_roots;
  for (const fs::path &root : roots) {
    std::error_code ec;
    fs::path canonical = fs::weakly_canonical(root, ec);
    if (!ec && canonical.is_absolute()) canonical_roots.push_back(canonical);
  }
  const std::string base(prefix);
  if (auto boot = spec.find("boot"); boot != spec.end() && boot->is_object()) {
    confine(*boot, "kernel", base + ".boot.kernel", canonical_roots, roots);
    confine(*boot, "initrd", base + ".boot.initrd", canonical_roots, roots);
    if (auto fw = boot->find("firmware"); fw != boot->end() && fw->is_object())
      confine(*fw, "path", base + ".boot.firmware.path", canonical_roots, roots);
  }
  if (auto disks = spec.find("disks"); disks != spec.end() && disks->is_array()) {
    for (size_t i = 0; i < disks->size(); ++i) {
      if ((*disks)[i].is_object())
        confine((*disks)[i], "path", base + ".disks[" + std::to_string(i) + "].path",
                canonical_roots, roots);
    }
  }
}

}  // namespace hal::node
