// discovery.cc - manifest parsing and the plugin search path.
#include "core/plugin/discovery.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>

#include "hal/hal.h"

namespace hal {
namespace {

constexpr std::string_view kSuffix = ".hal.json";

bool is_manifest(const std::filesystem::path &p) {
  const std::string name = p.filename().string();
  return name.size() > kSuffix.size() && name.ends_with(kSuffix);
}

}  // namespace

Manifest parse_manifest(const std::filesystem::path &manifest) {
  auto fail = [](const std::string &why) { throw std::runtime_error(why); };
  std::ifstream in(manifest);
  if (!in) fail("cannot read manifest");
  nlohmann::json doc = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) fail("manifest is not valid JSON");
  if (!doc.is_object()) fail("manifest must be a JSON object");

  Manifest m;
  m.manifest_path = manifest;
  const std::string file = manifest.filename().string();
  const std::string stem = file.substr(0, file.size() - kSuffix.size());
  auto name = doc.find("name");
  if (name == doc.end() || !name->is_string() || name->get<std::string>().empty())
    fail("\"name\" must be a non-empty string");
  m.name = name->get<std::string>();
  if (m.name != stem) fail("\"name\" is '" + m.name + "' but the file is named " + file);

  auto lib = doc.find("library");
  if (lib == doc.end() || !lib->is_string() || lib->get<std::string>().empty())
    fail("\"library\" must be a non-empty string");
  std::filesystem::path lib_path = lib->get<std::string>();
  if (lib_path.is_relative()) lib_path = manifest.parent_path() / lib_path;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(lib_path, ec))
    fail("library '" + lib->get<std::string>() + "' not found (" + lib_path.string() + ")");
  m.library = std::filesystem::absolute(lib_path).lexically_normal();

  auto abi = doc.find("abi");
  if (abi == doc.end() || !abi->is_object() || !abi->contains("major") ||
      !(*abi)["major"].is_number_unsigned())
    fail("\"abi\" must be {\"major\": <unsigned integer>}");
  m.abi_major = (*abi)["major"].get<uint32_t>();
  if (m.abi_major != HAL_ABI_VERSION_MAJOR)
    fail("built for HAL ABI major " + std::to_string(m.abi_major) + ", host speaks " +
         std::to_string(HAL_ABI_VERSION_MAJOR));

  if (auto d = doc.find("description"); d != doc.end()) {
    if (!d->is_string()) fail("\"description\" must be a string");
    m.description = d->get<std::string>();
  }
  return m;
}

SearchPath SearchPath::from_env(std::vector<std::filesystem::path> defaults) {
  std::vector<std::filesystem::path> dirs;
  if (const char *env = std::getenv("HAL_PLUGIN_PATH"); env != nullptr) {
    std::string_view rest(env);
    while (!rest.empty()) {
      auto colon = rest.find(':');
      auto part = rest.substr(0, colon);
      if (!part.empty()) dirs.emplace_back(std::string(part));
      if (colon == std::string_view::npos) break;
      rest.remove_prefix(colon + 1);
    }
  }
  for (auto &d : defaults) dirs.push_back(std::move(d));
  return SearchPath(std::move(dirs));
}

DiscoveryResult SearchPath::discover() const {
  DiscoveryResult result;
  std::set<std::string> seen;
  for (const auto &dir : dirs_) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) continue;
    std::vector<std::filesystem::path> manifests;
    for (auto it = std::filesystem::directory_iterator(dir, ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
      if (is_manifest(it->path())) manifests.push_back(it->path());
    }
    std::sort(manifests.begin(), manifests.end());
    for (const auto &path : manifests) {
      try {
        Manifest m = parse_manifest(path);
        if (!seen.insert(m.name).second) {
          result.problems.push_back(
              {path, "plugin '" + m.name + "' already found earlier in the search path"});
          continue;
        }
        result.plugins.push_back(std::move(m));
      } catch (const std::exception &e) {
        result.problems.push_back({path, e.what()});
      }
    }
  }
  return result;
}

}  // namespace hal
