// openssl_handles.cc - OpenSSL error text and PEM reading for the PKI (see openssl_handles.h).
#include "controller/pki/openssl_handles.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#include "controller/pki/pki.h"

namespace hal::pki::detail {

void throw_openssl(const std::string &what) {
  std::string message = what;
  while (unsigned long code = ERR_get_error()) {
    char text[256];
    ERR_error_string_n(code, text, sizeof text);
    message += message == what ? ": " : "; ";
    message += text;
  }
  throw Error(message);
}

namespace {

BioPtr memory_bio(const std::string &pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) throw_openssl("BIO_new_mem_buf");
  return bio;
}

}  // namespace

X509Ptr read_certificate(const std::string &pem, const std::string &what) {
  BioPtr bio = memory_bio(pem);
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) throw_openssl(what + ": no PEM certificate");
  return cert;
}

KeyPtr read_private_key(const std::string &pem, const std::string &what) {
  BioPtr bio = memory_bio(pem);
  KeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) throw_openssl(what + ": no PEM private key");
  return key;
}

}  // namespace hal::pki::detail
