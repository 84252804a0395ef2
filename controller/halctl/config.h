// config.h - halctl's configuration file, shaped like a kubeconfig: named clusters (server
// address, CA file or `insecure`), users (client certificate and key files), contexts (a
// cluster, a user, a default namespace) and the current context. It is found at --config, else
// $HALCONFIG, else ~/.hal/config; --context picks another context; --server, --tls-* and
// --insecure override what it says. resolve_connection() turns all of it into where and how
// halctl dials, or an error message saying what is missing.
#ifndef HAL_CONTROLLER_HALCTL_CONFIG_H
#define HAL_CONTROLLER_HALCTL_CONFIG_H

#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>

#include "controller/tls/tls_options.h"

namespace hal::halctl {

/** A configuration file that cannot be used; the message names the file and the entry. */
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/** clusters[].cluster */
struct ClusterEntry {
  std::string server;                 ///< host:port of hal-controller.
  std::string certificate_authority;  ///< CA file (absolute after loading).
  bool insecure = false;              ///< Plaintext, no authentication (insecure-skip-tls).
};

/** users[].user */
struct UserEntry {
  std::string client_certificate;  ///< Certificate file (absolute after loading).
  std::string client_key;          ///< Key file (absolute after loading).
};

/** contexts[].context */
struct ContextEntry {
  std::string cluster;  ///< A clusters[] name.
  std::string user;     ///< A users[] name ("" with an insecure cluster).
  std::string ns;       ///< Default namespace ("" = "default").
};

/** A parsed configuration file. Relative file names are resolved against its directory. */
struct Config {
  std::filesystem::path path;                    ///< Where it was read from.
  std::map<std::string, ClusterEntry> clusters;  ///< By name.
  std::map<std::string, UserEntry> users;        ///< By name.
  std::map<std::string, ContextEntry> contexts;  ///< By name.
  std::string current_context;                   ///< current-context.
};

/** Parses the YAML configuration at `path`; throws ConfigError naming the file and entry. */
Config load_config(const std::filesystem::path &path);

/** The configuration file halctl uses: `flag` (--config), else $HALCONFIG, else ~/.hal/config
 *  when it exists; "" when there is none. */
std::filesystem::path config_file_path(const std::string &flag);

/** Makes `context` the current context of the loaded configuration `config` in its file
 *  (config.path), keeping every other entry (comments are not kept); the file is replaced
 *  atomically and stays owner-only. Throws ConfigError when the context does not exist or the
 *  file cannot be written. */
void use_context(const Config &config, const std::string &context);

/** The YAML of a configuration with one cluster, one user and one current context. */
std::string config_yaml(const std::string &cluster_name, const ClusterEntry &cluster,
                        const std::string &user_name, const UserEntry &user,
                        const std::string &context_name, const std::string &ns = "");

/** What the command line says about the connection; empty fields are not set. */
struct ConnectionFlags {
  std::string config_file;  ///< --config
  std::string context;      ///< --context
  std::string server;       ///< --server
  std::string ns;           ///< --namespace
  tls::TlsOptions tls;      ///< --tls-ca, --tls-cert, --tls-key, --insecure
};

/** Where and how halctl dials, with where that came from (for messages). */
struct Connection {
  std::string server;   ///< host:port.
  tls::TlsOptions tls;  ///< Mutual TLS files, or insecure.
  std::string ns;       ///< Namespace ("default" unless the context or a flag says).
  std::string source;   ///< "context 'admin@local' of /home/a/.hal/config" or "flags".
};

/** Resolves flags, the environment ($HALCONFIG, $HALCTL_SERVER, $HOME) and the configuration
 *  file into a Connection; throws ConfigError when the file or context is missing or broken, or
 *  when nothing says how to authenticate. */
Connection resolve_connection(const ConnectionFlags &flags);

}  // namespace hal::halctl

#endif  // HAL_CONTROLLER_HALCTL_CONFIG_H
