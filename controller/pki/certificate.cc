// certificate.cc - certificate inspection and verification with OpenSSL (see certificate.h).
#include "controller/pki/certificate.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <ctime>

#include "controller/pki/openssl_handles.h"
#include "controller/pki/pki.h"

namespace hal::pki {
namespace {

using namespace detail;

std::chrono::system_clock::time_point to_time_point(const ASN1_TIME *time) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(time, &tm) != 1) throw_openssl("ASN1_TIME_to_tm");
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

std::string one_line(const X509_NAME *name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0)
    throw_openssl("X509_NAME_print_ex");
  char *data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

std::vector<std::string> entries(const X509_NAME *name, int nid) {
  std::vector<std::string> values;
  for (int index = X509_NAME_get_index_by_NID(name, nid, -1); index >= 0;
       index = X509_NAME_get_index_by_NID(name, nid, index)) {
    ASN1_STRING *data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
    unsigned char *utf8 = nullptr;
    int length = ASN1_STRING_to_UTF8(&utf8, data);
    if (length < 0) throw_openssl("subject entry is not text");
    values.emplace_back(reinterpret_cast<char *>(utf8), static_cast<size_t>(length));
    OPENSSL_free(utf8);
  }
  return values;
}

}  // namespace

CertificateInfo inspect_certificate(const std::string &pem) {
  X509Ptr cert = read_certificate(pem, "certificate");
  const X509_NAME *subject = X509_get_subject_name(cert.get());
  CertificateInfo info;
  std::vector<std::string> names = entries(subject, NID_commonName);
  if (!names.empty()) info.common_name = names.back();
  info.organizations = entries(subject, NID_organizationName);
  info.subject = one_line(subject);
  info.issuer = one_line(X509_get_issuer_name(cert.get()));
  info.not_before = to_time_point(X509_get0_notBefore(cert.get()));
  info.not_after = to_time_point(X509_get0_notAfter(cert.get()));
  info.is_ca = X509_check_ca(cert.get()) != 0;
  return info;
}

Verification verify_certificate(const std::string &certificate_pem, const std::string &ca_pem,
                                std::chrono::system_clock::time_point at) {
  X509Ptr cert = read_certificate(certificate_pem, "certificate");
  StorePtr store(X509_STORE_new());
  if (!store) throw_openssl("X509_STORE_new");
  BioPtr bio(BIO_new_mem_buf(ca_pem.data(), static_cast<int>(ca_pem.size())));
  int cas = 0;
  while (X509Ptr ca{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)}) {
    if (X509_STORE_add_cert(store.get(), ca.get()) != 1) throw_openssl("X509_STORE_add_cert");
    ++cas;
  }
  ERR_clear_error();  // The loop ends on "no start line".
  if (cas == 0) throw Error("CA: no PEM certificate");
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!ctx || X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr) != 1)
    throw_openssl("X509_STORE_CTX_init");
  X509_STORE_CTX_set_time(ctx.get(), 0, std::chrono::system_clock::to_time_t(at));
  Verification result;
  if (X509_verify_cert(ctx.get()) == 1) {
    result.ok = true;
    return result;
  }
  const int error = X509_STORE_CTX_get_error(ctx.get());
  // Depth 0 is the certificate itself; above it, the CA's own certificate failed.
  const bool own = X509_STORE_CTX_get_error_depth(ctx.get()) == 0;
  result.expired = own && error == X509_V_ERR_CERT_HAS_EXPIRED;
  result.not_yet_valid = own && error == X509_V_ERR_CERT_NOT_YET_VALID;
  result.reason = X509_verify_cert_error_string(error);
  if (!own) result.reason += " (the CA certificate)";
  return result;
}

bool key_matches_certificate(const std::string &key_pem, const std::string &certificate_pem) {
  X509Ptr cert = read_certificate(certificate_pem, "certificate");
  KeyPtr key = read_private_key(key_pem, "key");
  const bool match = X509_check_private_key(cert.get(), key.get()) == 1;
  ERR_clear_error();
  return match;
}

std::string format_utc(std::chrono::system_clock::time_point time) {
  std::time_t t = std::chrono::system_clock::to_time_t(time);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

}  // namespace hal::pki
