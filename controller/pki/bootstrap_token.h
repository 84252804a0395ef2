// bootstrap_token.h - short-lived node join tokens and the certificate requests they pay for. A
// token names one node and an expiry and carries an HMAC-SHA256 (OpenSSL) keyed from the cluster
// CA's private key, so whoever holds the CA key (hal-pki, the controller) mints and checks them
// without storing anything. A joining node makes its own key and a CSR; the controller signs it
// as that node's certificate when the token is good.
#ifndef HAL_CONTROLLER_PKI_BOOTSTRAP_TOKEN_H
#define HAL_CONTROLLER_PKI_BOOTSTRAP_TOKEN_H

#include <chrono>
#include <string>

#include "controller/pki/pki.h"

namespace hal::pki {

/** A token letting node `node_name` join until `expires`, keyed by `ca_key_pem`. */
std::string mint_bootstrap_token(const std::string &ca_key_pem, const std::string &node_name,
                                 std::chrono::system_clock::time_point expires);

/** Why a token is refused; empty when it is good for `node_name` at `now`. */
std::string check_bootstrap_token(
    const std::string &ca_key_pem, const std::string &token, const std::string &node_name,
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

/** A new P-256 key and a PEM certificate signing request for it (subject CN = common_name). */
struct KeyAndRequest {
  std::string key_pem;  ///< The private key.
  std::string csr_pem;  ///< The CSR, self-signed with the key.
};

/** Makes a key and a CSR for `common_name`. */
KeyAndRequest make_certificate_request(const std::string &common_name);

/** Signs the public key of `csr_pem` (whose self-signature must verify) as described by
 *  `request` with `ca`; the CSR's own subject is ignored. Returns the PEM certificate. */
std::string issue_for_request(const KeyAndCertificate &ca, const std::string &csr_pem,
                              const CertificateRequest &request);

}  // namespace hal::pki

#endif  // HAL_CONTROLLER_PKI_BOOTSTRAP_TOKEN_H
