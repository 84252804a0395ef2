// tls_options.h - the TLS files a HAL program serves and dials with (--tls-ca, --tls-cert,
// --tls-key) or the explicit --insecure, shared by hal-controller, hal-node and the benchmarks,
// and the check that refuses to run with neither.
#ifndef HAL_CONTROLLER_TLS_TLS_OPTIONS_H
#define HAL_CONTROLLER_TLS_TLS_OPTIONS_H

#include <optional>
#include <string>

namespace CLI {
class App;
}

namespace hal::tls {

/** Where a program's TLS identity and trust come from. Default-constructed: insecure (what
 *  in-process tests use); the command lines require a choice (check_tls_options). */
struct TlsOptions {
  std::string ca_file;    ///< PEM CA certificate(s) peers must be signed by.
  std::string cert_file;  ///< PEM certificate this program presents.
  std::string key_file;   ///< PEM private key of cert_file.
  bool insecure = false;  ///< Explicit plaintext, no authentication (--insecure).

  /** True when TLS files are set (mutual TLS on). */
  bool enabled() const { return !ca_file.empty() || !cert_file.empty() || !key_file.empty(); }
};

/** Adds --tls-ca, --tls-cert, --tls-key and --insecure to `app`, filling `options`. */
void add_tls_flags(CLI::App &app, TlsOptions &options);

/** Why `options` (from a command line of `program`) cannot be used: neither TLS files nor
 *  --insecure, only some of the three files, or both; nullopt when usable. */
std::optional<std::string> check_tls_options(const TlsOptions &options, const std::string &program);

}  // namespace hal::tls

#endif  // HAL_CONTROLLER_TLS_TLS_OPTIONS_H
