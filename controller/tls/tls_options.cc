// tls_options.cc - the shared TLS flags and their check (see tls_options.h).
#include "controller/tls/tls_options.h"

#include <CLI/CLI.hpp>

namespace hal::tls {

void add_tls_flags(CLI::App &app, TlsOptions &options) {
  app.add_option("--tls-ca", options.ca_file,
                 "PEM CA certificate that peers' certificates must be signed by (hal-pki init)");
  app.add_option("--tls-cert", options.cert_file, "PEM certificate this program presents");
  app.add_option("--tls-key", options.key_file, "PEM private key of --tls-cert");
  app.add_flag("--insecure", options.insecure,
               "Plaintext gRPC with no authentication: anyone who reaches a port may do anything");
}

std::optional<std::string> check_tls_options(const TlsOptions &options,
                                             const std::string &program) {
  if (options.insecure && options.enabled())
    return program + ": --insecure and --tls-* are exclusive";
  if (options.insecure) return std::nullopt;
  if (!options.enabled())
    return program +
           ": no TLS credentials: pass --tls-ca, --tls-cert and --tls-key (files made by "
           "hal-pki), or --insecure to run without authentication";
  if (options.ca_file.empty() || options.cert_file.empty() || options.key_file.empty())
    return program + ": --tls-ca, --tls-cert and --tls-key go together (missing " +
           (options.ca_file.empty()     ? "--tls-ca"
            : options.cert_file.empty() ? "--tls-cert"
                                        : "--tls-key") +
           ")";
  return std::nullopt;
}

}  // namespace hal::tls
