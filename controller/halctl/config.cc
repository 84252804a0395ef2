// config.cc - halctl's kubeconfig-like file and connection resolution (see config.h).
#include "controller/halctl/config.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <fstream>

namespace hal::halctl {
namespace {

namespace fs = std::filesystem;

std::string scalar(const YAML::Node &node, const std::string &key, const std::string &where) {
  const YAML::Node value = node[key];
  if (!value) return "";
  if (!value.IsScalar()) throw ConfigError(where + "." + key + ": must be a string");
  return value.as<std::string>();
}

std::string file_name(const YAML::Node &node, const std::string &key, const std::string &where,
                      const fs::path &base) {
  std::string name = scalar(node, key, where);
  if (name.empty()) return name;
  fs::path path(name);
  return (path.is_absolute() ? path : base / path).lexically_normal().string();
}

// Calls `each(name, body, where)` for every {name, <field>: {...}} entry of list `key`.
template <class Each>
void for_entries(const YAML::Node &root, const std::string &key, const std::string &field,
                 const std::string &file, Each &&each) {
  const YAML::Node list = root[key];
  if (!list) return;
  if (!list.IsSequence()) throw ConfigError(file + ": " + key + ": must be a list");
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string where = file + ": " + key + "[" + std::to_string(i) + "]";
    if (!list[i].IsMap()) throw ConfigError(where + ": must be a mapping");
    std::string name = scalar(list[i], "name", where);
    if (name.empty()) throw ConfigError(where + ".name: required");
    const YAML::Node body = list[i][field];
    if (!body || !body.IsMap()) throw ConfigError(where + "." + field + ": required mapping");
    each(name, body, where + "." + field);
  }
}

fs::path default_config_path() {
  const char *home = std::getenv("HOME");
  if (home == nullptr || *home == '\0') return {};
  return fs::path(home) / ".hal" / "config";
}

std::string env(const char *name) {
  const char *value = std::getenv(name);
  return value == nullptr ? "" : value;
}

}  // namespace

Config load_config(const fs::path &path) {
  const std::string file = path.string();
  if (!fs::exists(path)) throw ConfigError("halctl config " + file + ": no such file");
  YAML::Node root;
  try {
    root = YAML::LoadFile(file);
  } catch (const YAML::Exception &e) {
    throw ConfigError("halctl config " + file + ": " + e.what());
  }
  if (!root.IsMap()) throw ConfigError("halctl config " + file + ": must be a YAML mapping");
  const fs::path base = fs::absolute(path).parent_path();
  Config config;
  config.path = path;
  try {
    for_entries(root, "clusters", "cluster", file,
                [&](const std::string &name, const YAML::Node &body, const std::string &where) {
                  ClusterEntry entry;
                  entry.server = scalar(body, "server", where);
                  if (entry.server.empty()) throw ConfigError(where + ".server: required");
                  entry.certificate_authority =
                      file_name(body, "certificate-authority", where, base);
                  entry.insecure = scalar(body, "insecure", where) == "true";
                  config.clusters[name] = entry;
                });
    for_entries(root, "users", "user", file,
                [&](const std::string &name, const YAML::Node &body, const std::string &where) {
                  UserEntry entry;
                  entry.client_certificate = file_name(body, "client-certificate", where, base);
                  entry.client_key = file_name(body, "client-key", where, base);
                  config.users[name] = entry;
                });
    for_entries(root, "contexts", "context", file,
                [&](const std::string &name, const YAML::Node &body, const std::string &where) {
                  ContextEntry entry;
                  entry.cluster = scalar(body, "cluster", where);
                  entry.user = scalar(body, "user", where);
                  entry.ns = scalar(body, "namespace", where);
                  if (entry.cluster.empty()) throw ConfigError(where + ".cluster: required");
                  config.contexts[name] = entry;
                });
    config.current_context = scalar(root, "current-context", file + ": ");
  } catch (const YAML::Exception &e) {
    throw ConfigError("halctl config " + file + ": " + e.what());
  }
  return config;
}

std::string config_yaml(const std::string &cluster_name, const ClusterEntry &cluster,
                        const std::string &user_name, const UserEntry &user,
                        const std::string &context_name, const std::string &ns) {
  YAML::Emitter out;
  out << YAML::BeginMap << YAML::Key << "apiVersion" << YAML::Value << "hal.dev/v1" << YAML::Key
      << "kind" << YAML::Value << "Config";
  out << YAML::Key << "clusters" << YAML::Value << YAML::BeginSeq << YAML::BeginMap << YAML::Key
      << "name" << YAML::Value << cluster_name << YAML::Key << "cluster" << YAML::Value
      << YAML::BeginMap << YAML::Key << "server" << YAML::Value << cluster.server;
  if (!cluster.certificate_authority.empty())
    out << YAML::Key << "certificate-authority" << YAML::Value << cluster.certificate_authority;
  if (cluster.insecure) out << YAML::Key << "insecure" << YAML::Value << true;
  out << YAML::EndMap << YAML::EndMap << YAML::EndSeq;
  out << YAML::Key << "users" << YAML::Value << YAML::BeginSeq << YAML::BeginMap << YAML::Key
      << "name" << YAML::Value << user_name << YAML::Key << "user" << YAML::Value << YAML::BeginMap
      << YAML::Key << "client-certificate" << YAML::Value << user.client_certificate << YAML::Key
      << "client-key" << YAML::Value << user.client_key << YAML::EndMap << YAML::EndMap
      << YAML::EndSeq;
  out << YAML::Key << "contexts" << YAML::Value << YAML::BeginSeq << YAML::BeginMap << YAML::Key
      << "name" << YAML::Value << context_name << YAML::Key << "context" << YAML::Value
      << YAML::BeginMap << YAML::Key << "cluster" << YAML::Value << cluster_name << YAML::Key
      << "user" << YAML::Value << user_name;
  if (!ns.empty()) out << YAML::Key << "namespace" << YAML::Value << ns;
  out << YAML::EndMap << YAML::EndMap << YAML::EndSeq;
  out << YAML::Key << "current-context" << YAML::Value << context_name << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

fs::path config_file_path(const std::string &flag) {
  if (!flag.empty()) return flag;
  if (!env("HALCONFIG").empty()) return env("HALCONFIG");
  const fs::path fallback = default_config_path();
  return !fallback.empty() && fs::exists(fallback) ? fallback : fs::path();
}

void use_context(const Config &config, const std::string &context) {
  const fs::path &path = config.path;
  if (!config.contexts.contains(context))
    throw ConfigError("halctl config " + path.string() + ": no context '" + context + "'");
  YAML::Node root = YAML::LoadFile(path.string());
  root["current-context"] = context;
  YAML::Emitter out;
  out << root;
  const fs::path temporary = path.string() + ".tmp";
  {
    std::ofstream file(temporary, std::ios::trunc);
    file << out.c_str() << "\n";
    if (!file.flush())
      throw ConfigError("halctl config " + path.string() + ": cannot write " + temporary.string());
  }
  std::error_code error;
  fs::permissions(temporary, fs::perms::owner_read | fs::perms::owner_write, error);
  fs::rename(temporary, path, error);
  if (error) {
    fs::remove(temporary);
    throw ConfigError("halctl config " + path.string() + ": " + error.message());
  }
}

Connection resolve_connection(const ConnectionFlags &flags) {
  Connection connection;
  const fs::path path = config_file_path(flags.config_file);
  const std::string from = !flags.config_file.empty()      ? "--config"
                           : path == default_config_path() ? "default"
                                                           : "$HALCONFIG";
  if (!flags.context.empty() && path.empty())
    throw ConfigError("--context " + flags.context +
                      ": no configuration file (--config, $HALCONFIG or ~/.hal/config)");
  if (!path.empty()) {
    if (!fs::exists(path))
      throw ConfigError("halctl config " + path.string() + " (from " + from + "): no such file");
    Config config = load_config(path);
    const std::string name = flags.context.empty() ? config.current_context : flags.context;
    if (name.empty())
      throw ConfigError("halctl config " + path.string() +
                        ": no current-context (pass --context NAME)");
    auto context = config.contexts.find(name);
    if (context == config.contexts.end())
      throw ConfigError("halctl config " + path.string() + ": no context '" + name + "'");
    auto cluster = config.clusters.find(context->second.cluster);
    if (cluster == config.clusters.end())
      throw ConfigError("halctl config " + path.string() + ": context '" + name +
                        "' names cluster '" + context->second.cluster + "', which is not there");
    connection.server = cluster->second.server;
    connection.tls.insecure = cluster->second.insecure;
    if (!cluster->second.insecure) {
      connection.tls.ca_file = cluster->second.certificate_authority;
      if (context->second.user.empty())
        throw ConfigError("halctl config " + path.string() + ": context '" + name +
                          "' names no user");
      auto user = config.users.find(context->second.user);
      if (user == config.users.end())
        throw ConfigError("halctl config " + path.string() + ": context '" + name +
                          "' names user '" + context->second.user + "', which is not there");
      connection.tls.cert_file = user->second.client_certificate;
      connection.tls.key_file = user->second.client_key;
    }
    connection.ns = context->second.ns;
    connection.source = "context '" + name + "' of " + path.string();
  } else {
    connection.server = env("HALCTL_SERVER").empty() ? "127.0.0.1:7440" : env("HALCTL_SERVER");
    connection.source = "flags";
  }
  if (!flags.server.empty()) connection.server = flags.server;
  if (!flags.ns.empty()) connection.ns = flags.ns;
  if (connection.ns.empty()) connection.ns = "default";
  if (flags.tls.insecure) {
    connection.tls = tls::TlsOptions{};
    connection.tls.insecure = true;
  }
  if (flags.tls.enabled()) {
    connection.tls.insecure = false;
    if (!flags.tls.ca_file.empty()) connection.tls.ca_file = flags.tls.ca_file;
    if (!flags.tls.cert_file.empty()) connection.tls.cert_file = flags.tls.cert_file;
    if (!flags.tls.key_file.empty()) connection.tls.key_file = flags.tls.key_file;
  }
  if (flags.tls.insecure && flags.tls.enabled())
    throw ConfigError("--insecure and --tls-* are exclusive");
  if (!connection.tls.insecure) {
    if (!connection.tls.enabled())
      throw ConfigError(
          "no credentials for " + connection.server +
          ": write a configuration file (--config FILE, $HALCONFIG or ~/.hal/config) with the "
          "cluster's CA and your certificate (hal-pki user NAME), pass --tls-ca, --tls-cert and "
          "--tls-key, or --insecure for a controller that runs without TLS");
    const char *missing =
        connection.tls.ca_file.empty() ? "the CA (certificate-authority, --tls-ca)"
        : connection.tls.cert_file.empty()
            ? "the client certificate (client-certificate, --tls-cert)"
        : connection.tls.key_file.empty() ? "the client key (client-key, --tls-key)"
                                          : nullptr;
    if (missing != nullptr) throw ConfigError(connection.source + ": missing " + missing);
  }
  return connection;
}

}  // namespace hal::halctl
