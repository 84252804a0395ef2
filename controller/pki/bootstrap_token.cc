// bootstrap_token.cc - node join tokens (HMAC-SHA256 over OpenSSL) and CSR signing (see
// bootstrap_token.h).
#include "controller/pki/bootstrap_token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <vector>

#include "controller/pki/certificate.h"
#include "controller/pki/openssl_handles.h"

namespace hal::pki {
namespace {

using namespace detail;

constexpr char kPrefix[] = "hal1";

std::string to_hex(const unsigned char *data, size_t size) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < size; ++i) {
    out += digits[data[i] >> 4];
    out += digits[data[i] & 15];
  }
  return out;
}

std::string to_hex(const std::string &text) {
  return to_hex(reinterpret_cast<const unsigned char *>(text.data()), text.size());
}

bool from_hex(const std::string &hex, std::string &out) {
  if (hex.size() % 2 != 0) return false;
  out.clear();
  for (size_t i = 0; i < hex.size(); i += 2) {
    auto nibble = [](char c) {
      return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    };
    int high = nibble(hex[i]), low = nibble(hex[i + 1]);
    if (high < 0 || low < 0) return false;
    out += static_cast<char>(high * 16 + low);
  }
  return true;
}

// HMAC-SHA256 of `message` keyed with SHA-256("hal bootstrap token" || the CA key's DER).
std::string mac(const std::string &ca_key_pem, const std::string &message) {
  KeyPtr key = read_private_key(ca_key_pem, "CA key");
  unsigned char *der = nullptr;
  int der_size = i2d_PrivateKey(key.get(), &der);
  if (der_size <= 0) throw_openssl("i2d_PrivateKey");
  std::string material = "hal bootstrap token";
  material.append(reinterpret_cast<char *>(der), static_cast<size_t>(der_size));
  OPENSSL_clear_free(der, static_cast<size_t>(der_size));
  unsigned char secret[EVP_MAX_MD_SIZE];
  unsigned int secret_size = 0;
  if (EVP_Digest(material.data(), material.size(), secret, &secret_size, EVP_sha256(), nullptr) !=
      1)
    throw_openssl("EVP_Digest");
  OPENSSL_cleanse(material.data(), material.size());
  unsigned char out[EVP_MAX_MD_SIZE];
  size_t out_size = 0;
  if (EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, secret, secret_size,
                reinterpret_cast<const unsigned char *>(message.data()), message.size(), out,
                sizeof out, &out_size) == nullptr)
    throw_openssl("HMAC-SHA256");
  OPENSSL_cleanse(secret, sizeof secret);
  return to_hex(out, out_size);
}

std::vector<std::string> split(const std::string &text, char separator) {
  std::vector<std::string> parts(1);
  for (char c : text) {
    if (c == separator)
      parts.emplace_back();
    else
      parts.back() += c;
  }
  return parts;
}

}  // namespace

std::string mint_bootstrap_token(const std::string &ca_key_pem, const std::string &node_name,
                                 std::chrono::system_clock::time_point expires) {
  if (node_name.empty()) throw Error("bootstrap token: node name is empty");
  const std::string body = std::string(kPrefix) + "." + to_hex(node_name) + "." +
                           std::to_string(std::chrono::system_clock::to_time_t(expires));
  return body + "." + mac(ca_key_pem, body);
}

std::string check_bootstrap_token(const std::string &ca_key_pem, const std::string &token,
                                  const std::string &node_name,
                                  std::chrono::system_clock::time_point now) {
  std::vector<std::string> parts = split(token, '.');
  std::string named;
  if (parts.size() != 4 || parts[0] != kPrefix || !from_hex(parts[1], named) || parts[2].empty() ||
      parts[2].find_first_not_of("0123456789") != std::string::npos)
    return "bootstrap token: malformed";
  const std::string body = parts[0] + "." + parts[1] + "." + parts[2];
  const std::string expected = mac(ca_key_pem, body);
  if (expected.size() != parts[3].size() ||
      CRYPTO_memcmp(expected.data(), parts[3].data(), expected.size()) != 0)
    return "bootstrap token: not issued by this cluster's CA";
  if (named != node_name)
    return "bootstrap token: issued for node '" + named + "', not '" + node_name + "'";
  const auto expires = std::chrono::system_clock::from_time_t(std::stoll(parts[2]));
  if (now >= expires) return "bootstrap token: expired at " + format_utc(expires);
  return "";
}

KeyAndRequest make_certificate_request(const std::string &common_name) {
  KeyPtr key = new_key();
  std::unique_ptr<X509_REQ, Deleter<X509_REQ_free>> request(X509_REQ_new());
  if (!request) throw_openssl("X509_REQ_new");
  X509_NAME *name = X509_REQ_get_subject_name(request.get());
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char *>(common_name.c_str()), -1,
                                 -1, 0) != 1 ||
      X509_REQ_set_pubkey(request.get(), key.get()) != 1 ||
      X509_REQ_sign(request.get(), key.get(), EVP_sha256()) == 0)
    throw_openssl("certificate request");
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509_REQ(bio.get(), request.get()) != 1)
    throw_openssl("PEM_write_bio_X509_REQ");
  char *data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return {private_key_pem(key.get()), std::string(data, static_cast<size_t>(size))};
}

std::string issue_for_request(const KeyAndCertificate &ca, const std::string &csr_pem,
                              const CertificateRequest &request) {
  BioPtr bio(BIO_new_mem_buf(csr_pem.data(), static_cast<int>(csr_pem.size())));
  std::unique_ptr<X509_REQ, Deleter<X509_REQ_free>> csr(
      PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
  if (!csr) throw_openssl("certificate request: no PEM CSR");
  EVP_PKEY *key = X509_REQ_get0_pubkey(csr.get());
  if (key == nullptr || X509_REQ_verify(csr.get(), key) != 1)
    throw_openssl("certificate request: its signature does not verify");
  return sign_certificate(ca, key, request);
}

}  // namespace hal::pki
