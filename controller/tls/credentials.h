// credentials.h - gRPC credentials from TlsOptions: mutual TLS (gRPC's SSL credentials, the
// server requiring and verifying a client certificate from the cluster CA) or, when the options
// say insecure or set nothing, plaintext. The files are checked first so a missing file, a key
// that is not the certificate's or an expired certificate is reported by name, not as a failed
// handshake later.
#ifndef HAL_CONTROLLER_TLS_CREDENTIALS_H
#define HAL_CONTROLLER_TLS_CREDENTIALS_H

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <stdexcept>
#include <string>

#include "controller/tls/tls_options.h"

namespace hal::tls {

/** A TLS file that cannot be used; the message names the file and what is wrong with it. */
class CredentialsError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/** The PEM contents of TlsOptions' files. */
struct TlsMaterial {
  std::string ca_pem;    ///< CA certificate(s).
  std::string cert_pem;  ///< Own certificate.
  std::string key_pem;   ///< Own private key.
};

/** Reads and checks the files of `options` (enabled()): each readable, the key the certificate's,
 *  the certificate signed by the CA and within its validity. Throws CredentialsError. */
TlsMaterial load_tls_material(const TlsOptions &options);

/** Server credentials: mutual TLS requiring a CA-signed client certificate, or insecure. */
std::shared_ptr<grpc::ServerCredentials> server_credentials(const TlsOptions &options);

/** Channel credentials: TLS trusting only the CA and presenting the certificate, or insecure. */
std::shared_ptr<grpc::ChannelCredentials> channel_credentials(const TlsOptions &options);

}  // namespace hal::tls

#endif  // HAL_CONTROLLER_TLS_CREDENTIALS_H
