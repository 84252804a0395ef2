// openssl_handles.h - unique_ptr aliases that free OpenSSL objects, and the error text of the
// OpenSSL error queue, shared by the PKI's .cc files (not part of its public interface).
#ifndef HAL_CONTROLLER_PKI_OPENSSL_HANDLES_H
#define HAL_CONTROLLER_PKI_OPENSSL_HANDLES_H

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <memory>
#include <string>

namespace hal::pki {
struct KeyAndCertificate;
struct CertificateRequest;
}  // namespace hal::pki

namespace hal::pki::detail {

/** Calls an OpenSSL free function. */
template <auto Free>
struct Deleter {
  template <class T>
  void operator()(T *object) const {
    Free(object);
  }
};

using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free_all>>;              ///< A BIO.
using KeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;        ///< A key.
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;               ///< A certificate.
using StorePtr = std::unique_ptr<X509_STORE, Deleter<X509_STORE_free>>;  ///< Trust store.
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, Deleter<X509_STORE_CTX_free>>;  ///< Verify.
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BN_free>>;                       ///< A big number.
using ExtPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION_free>>;  ///< Extension.

/** Throws pki::Error with `what` and the texts on OpenSSL's error queue (which it empties). */
[[noreturn]] void throw_openssl(const std::string &what);

/** The first certificate in `pem`; throws pki::Error naming `what` when there is none. */
X509Ptr read_certificate(const std::string &pem, const std::string &what);

/** The private key in `pem`; throws pki::Error naming `what` when there is none. */
KeyPtr read_private_key(const std::string &pem, const std::string &what);

/** A new P-256 key. */
KeyPtr new_key();

/** `key` as PKCS#8 PEM. */
std::string private_key_pem(EVP_PKEY *key);

/** The PEM certificate of public key `key` described by `request`, signed by `ca`. */
std::string sign_certificate(const KeyAndCertificate &ca, EVP_PKEY *key,
                             const CertificateRequest &request);

}  // namespace hal::pki::detail

#endif  // HAL_CONTROLLER_PKI_OPENSSL_HANDLES_H
