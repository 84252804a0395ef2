// node_pool_file.cc - minimal NodePool reading with yaml-cpp (see node_pool_file.h).
#include "controller/node/node_pool_file.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <sstream>

#include "hal/host.hpp"

namespace hal::node {
namespace {

[[noreturn]] void bad(const std::string &message) {
  throw Error(HAL_INVALID_ARGUMENT, message);
}

// A YAML scalar as JSON: true/false, integers, floats, else the string (quoted scalars stay
// strings).
nlohmann::json scalar_to_json(const YAML::Node &node) {
  const std::string &text = node.Scalar();
  if (node.Tag() == "!") return text;  // quoted in the source
  if (text == "true" || text == "True") return true;
  if (text == "false" || text == "False") return false;
  if (text == "null" || text == "~") return nullptr;
  if (!text.empty()) {
    try {
      std::size_t used = 0;
      long long value = std::stoll(text, &used, 10);
      if (used == text.size()) return value;
    } catch (const std::exception &) {
    }
    try {
      std::size_t used = 0;
      double value = std::stod(text, &used);
      if (used == text.size()) return value;
    } catch (const std::exception &) {
    }
  }
  return text;
}

nlohmann::json to_json(const YAML::Node &node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      nlohmann::json out = nlohmann::json::object();
      for (const auto &entry : node) out[entry.first.as<std::string>()] = to_json(entry.second);
      return out;
    }
    case YAML::NodeType::Sequence: {
      nlohmann::json out = nlohmann::json::array();
      for (const auto &item : node) out.push_back(to_json(item));
      return out;
    }
    case YAML::NodeType::Scalar:
      return scalar_to_json(node);
    default:
      return nullptr;
  }
}

NodePoolBackend from_document(const nlohmann::json &doc, std::string_view pool) {
  NodePoolBackend out;
  out.pool = std::string(pool);
  const std::string where = "NodePool/" + std::string(pool) + ": ";
  const nlohmann::json *spec = doc.contains("spec") ? &doc["spec"] : nullptr;
  if (spec == nullptr || !spec->is_object()) bad(where + "spec: required object");
  if (!spec->contains("backend") || !(*spec)["backend"].is_object())
    bad(where + "spec.backend: required object");
  const nlohmann::json &backend = (*spec)["backend"];
  if (!backend.contains("plugin") || !backend["plugin"].is_string() ||
      backend["plugin"].get<std::string>().empty())
    bad(where + "spec.backend.plugin: required non-empty string");
  out.plugin = backend["plugin"].get<std::string>();
  if (backend.contains("config") && !backend["config"].is_null()) {
    if (!backend["config"].is_object()) bad(where + "spec.backend.config: must be an object");
    out.config = backend["config"];
  }
  if (spec->contains("nodeSelector") && !(*spec)["nodeSelector"].is_null()) {
    const nlohmann::json &selector = (*spec)["nodeSelector"];
    if (!selector.is_object()) bad(where + "spec.nodeSelector: must be a map of strings");
    for (const auto &[key, value] : selector.items()) {
      if (value.is_string()) {
        out.node_selector[key] = value.get<std::string>();
      } else if (value.is_primitive() && !value.is_null()) {
        out.node_selector[key] = value.dump();
      } else {
        bad(where + "spec.nodeSelector." + key + ": must be a string");
      }
    }
  }
  if (spec->contains("hostPathRoots") && !(*spec)["hostPathRoots"].is_null()) {
    const nlohmann::json &roots = (*spec)["hostPathRoots"];
    if (!roots.is_array()) bad(where + "spec.hostPathRoots: must be a list of absolute paths");
    for (size_t i = 0; i < roots.size(); ++i) {
      if (!roots[i].is_string() || roots[i].get<std::string>().empty() ||
          roots[i].get<std::string>().front() != '/')
        bad(where + "spec.hostPathRoots[" + std::to_string(i) + "]: must be an absolute path");
      out.host_path_roots.emplace_back(roots[i].get<std::string>());
    }
  }
  return out;
}

}  // namespace

NodePoolBackend parse_node_pool(std::string_view text, std::string_view pool) {
  std::vector<YAML::Node> documents;
  try {
    documents = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception &e) {
    bad(std::string("node pool file: ") + e.what());
  }
  std::vector<std::string> seen;
  for (const YAML::Node &node : documents) {
    nlohmann::json doc = to_json(node);
    std::vector<nlohmann::json> objects;
    if (doc.is_array()) {
      objects.assign(doc.begin(), doc.end());
    } else if (doc.is_object() && doc.contains("items") && doc["items"].is_array()) {
      objects.assign(doc["items"].begin(), doc["items"].end());
    } else {
      objects.push_back(doc);
    }
    for (const nlohmann::json &object : objects) {
      if (!object.is_object() || object.value("kind", "") != "NodePool") continue;
      std::string name;
      if (object.contains("metadata") && object["metadata"].is_object())
        name = object["metadata"].value("name", "");
      if (name == pool) return from_document(object, pool);
      seen.push_back(name);
    }
  }
  std::string known;
  for (const std::string &name : seen) known += (known.empty() ? "" : ", ") + name;
  bad("node pool '" + std::string(pool) +
      "' not found (NodePools in the file: " + (known.empty() ? "none" : known) + ")");
}

NodePoolBackend load_node_pool(const std::filesystem::path &file, std::string_view pool) {
  std::ifstream in(file);
  if (!in) bad("--pool-file: cannot read '" + file.string() + "'");
  std::stringstream buffer;
  buffer << in.rdbuf();
  try {
    return parse_node_pool(buffer.str(), pool);
  } catch (const Error &e) {
    throw Error(e.status(), file.string() + ": " + e.what());
  }
}

}  // namespace hal::node
