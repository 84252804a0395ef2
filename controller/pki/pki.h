// pki.h - HAL's built-in PKI: a cluster CA and the certificates it signs for the controller,
// nodes and users (ECDSA P-256 keys, SHA-256 signatures), all through OpenSSL's EVP/X509 APIs.
// Identities follow Kubernetes' conventions: subject CN is the user, O the groups; a node is
// CN=system:node:NAME, O=system:nodes; the controller CN=system:controller,
// O=system:controllers. See certificate.h for reading and verifying certificates.
#ifndef HAL_CONTROLLER_PKI_PKI_H
#define HAL_CONTROLLER_PKI_PKI_H

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace hal::pki {

/** A PKI failure (bad input, an OpenSSL error, a file that cannot be read or written). */
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/** The group of every node certificate. */
inline constexpr char kNodesGroup[] = "system:nodes";
/** The prefix of a node certificate's common name (followed by the node name). */
inline constexpr char kNodeUserPrefix[] = "system:node:";
/** The controller's common name. */
inline constexpr char kControllerUser[] = "system:controller";
/** The controller's group. */
inline constexpr char kControllersGroup[] = "system:controllers";

/** A certificate and its private key, both PEM. */
struct KeyAndCertificate {
  std::string certificate_pem;  ///< The certificate.
  std::string key_pem;          ///< Its PKCS#8 private key.
};

/** What a certificate says and may be used for. */
struct CertificateRequest {
  std::string common_name;                 ///< Subject CN (the user).
  std::vector<std::string> organizations;  ///< Subject O values (the groups), in order.
  std::vector<std::string> dns_names;      ///< subjectAltName DNS entries (serving certs).
  std::vector<std::string> ip_addresses;   ///< subjectAltName IP entries (serving certs).
  bool server_auth = false;                ///< extendedKeyUsage serverAuth.
  bool client_auth = true;                 ///< extendedKeyUsage clientAuth.
  std::chrono::seconds validity{std::chrono::hours(24 * 365)};  ///< notAfter - notBefore.
  /** notBefore = now - backdate (clock skew between hosts); a backdate larger than validity
   *  makes a certificate that has already expired (for tests). */
  std::chrono::seconds backdate{std::chrono::minutes(5)};
};

/** A new self-signed CA named `common_name`, valid for `validity` from now. */
KeyAndCertificate create_ca(const std::string &common_name, std::chrono::seconds validity);

/** A new key and a certificate for it described by `request`, signed by `ca`. */
KeyAndCertificate issue(const KeyAndCertificate &ca, const CertificateRequest &request);

/** The request for node `node_name`'s certificate (serving and client). */
CertificateRequest node_request(const std::string &node_name);

/** The request for the controller's certificate (serving and client). */
CertificateRequest controller_request();

/** The request for user `user`'s client certificate in `groups`. */
CertificateRequest user_request(const std::string &user, const std::vector<std::string> &groups);

/** Reads a whole file; throws Error naming the file (and `what` it is) when it cannot. */
std::string read_file(const std::filesystem::path &path, const std::string &what);

/** Writes `content` to `path` readable and writable by its owner only (0600), replacing the
 *  file atomically; with `overwrite` false an existing file is an error. */
void write_private_file(const std::filesystem::path &path, const std::string &content,
                        bool overwrite = true);

/** Writes the directory layout QEMU's tls-creds-x509 reads (and HAL's migration TLS uses):
 *  `ca_pem` as ca-cert.pem, and `certificate_pem`/`key_pem` as both server-cert.pem/
 *  server-key.pem and client-cert.pem/client-key.pem, each owner-only; `dir` is created
 *  owner-only (0700). Throws Error or std::filesystem::filesystem_error. */
void write_tls_creds_dir(const std::filesystem::path &dir, const std::string &ca_pem,
                         const std::string &certificate_pem, const std::string &key_pem);

}  // namespace hal::pki

#endif  // HAL_CONTROLLER_PKI_PKI_H
