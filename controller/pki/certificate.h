// certificate.h - reading and checking PEM certificates with OpenSSL: subject identity, validity
// window, "is it signed by this CA" and "does this key belong to it". Used by hal-pki, by the
// TLS peer identity (controller/tls) and by halctl to explain a failure before dialling.
#ifndef HAL_CONTROLLER_PKI_CERTIFICATE_H
#define HAL_CONTROLLER_PKI_CERTIFICATE_H

#include <chrono>
#include <string>
#include <vector>

namespace hal::pki {

/** What a certificate says about its subject and lifetime. */
struct CertificateInfo {
  std::string common_name;                           ///< Subject CN ("" when absent).
  std::vector<std::string> organizations;            ///< Subject O values in order.
  std::string subject;                               ///< The subject, one line (RFC 2253).
  std::string issuer;                                ///< The issuer, one line (RFC 2253).
  std::chrono::system_clock::time_point not_before;  ///< Start of validity.
  std::chrono::system_clock::time_point not_after;   ///< End of validity.
  bool is_ca = false;                                ///< basicConstraints CA:TRUE.
};

/** Parses the first certificate in `pem`; throws Error when there is none. */
CertificateInfo inspect_certificate(const std::string &pem);

/** The outcome of verifying a certificate against a CA. */
struct Verification {
  bool ok = false;             ///< Trusted and within its validity at the given time.
  bool expired = false;        ///< Signed by the CA but past notAfter.
  bool not_yet_valid = false;  ///< Signed by the CA but before notBefore.
  std::string reason;          ///< OpenSSL's reason when not ok ("" when ok).
};

/** Verifies `certificate_pem` against the CA certificate(s) in `ca_pem` at time `at`. */
Verification verify_certificate(
    const std::string &certificate_pem, const std::string &ca_pem,
    std::chrono::system_clock::time_point at = std::chrono::system_clock::now());

/** True when `key_pem` is the private key of `certificate_pem`'s public key. */
bool key_matches_certificate(const std::string &key_pem, const std::string &certificate_pem);

/** `time` as "2026-12-07T18:31:17Z". */
std::string format_utc(std::chrono::system_clock::time_point time);

}  // namespace hal::pki

#endif  // HAL_CONTROLLER_PKI_CERTIFICATE_H
