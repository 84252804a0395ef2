// pki.cc - key generation and certificate issuing for HAL's cluster CA (see pki.h).
#include "controller/pki/pki.h"

#include <fcntl.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "controller/pki/openssl_handles.h"

namespace hal::pki {
namespace {

using namespace detail;

KeyPtr new_p256_key() {
  KeyPtr key(EVP_EC_gen("P-256"));
  if (!key) throw_openssl("EVP_EC_gen(P-256)");
  return key;
}

std::string key_pem(EVP_PKEY *key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1)
    throw_openssl("PEM_write_bio_PrivateKey");
  char *data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

std::string certificate_pem(X509 *cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) throw_openssl("PEM_write_bio_X509");
  char *data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

void add_name_entry(X509_NAME *name, const char *field, const std::string &value) {
  if (X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char *>(value.c_str()), -1, -1,
                                 0) != 1)
    throw_openssl(std::string("subject ") + field + "=" + value);
}

void add_extension(X509 *cert, X509 *issuer, int nid, const std::string &value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  ExtPtr ext(X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!ext) throw_openssl(std::string("extension ") + OBJ_nid2sn(nid) + "=" + value);
  if (X509_add_ext(cert, ext.get(), -1) != 1) throw_openssl("X509_add_ext");
}

// A fresh certificate for `key` with a random serial, `subject` and validity set, unsigned.
X509Ptr new_certificate(EVP_PKEY *key, const std::string &common_name,
                        const std::vector<std::string> &organizations,
                        std::chrono::seconds validity, std::chrono::seconds backdate) {
  if (common_name.empty()) throw Error("certificate: common name is empty");
  if (validity.count() <= 0) throw Error("certificate: validity must be positive");
  X509Ptr cert(X509_new());
  if (!cert) throw_openssl("X509_new");
  X509_set_version(cert.get(), 2);  // v3
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) throw_openssl("RAND_bytes");
  serial[0] &= 0x7f;  // A positive INTEGER.
  BnPtr bn(BN_bin2bn(serial, sizeof serial, nullptr));
  if (!bn || !BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert.get())))
    throw_openssl("serial number");
  const long start = -static_cast<long>(backdate.count());
  if (!X509_gmtime_adj(X509_getm_notBefore(cert.get()), start) ||
      !X509_gmtime_adj(X509_getm_notAfter(cert.get()), start + validity.count()))
    throw_openssl("validity");
  X509_NAME *name = X509_get_subject_name(cert.get());
  for (const std::string &organization : organizations) add_name_entry(name, "O", organization);
  add_name_entry(name, "CN", common_name);
  if (X509_set_pubkey(cert.get(), key) != 1) throw_openssl("X509_set_pubkey");
  return cert;
}

void sign(X509 *cert, EVP_PKEY *key) {
  if (X509_sign(cert, key, EVP_sha256()) == 0) throw_openssl("X509_sign");
}

std::string join(const std::vector<std::string> &values, const std::string &prefix) {
  std::string out;
  for (const std::string &value : values) {
    if (value.empty() || value.find(',') != std::string::npos)
      throw Error("subjectAltName: bad entry '" + value + "'");
    out += (out.empty() ? "" : ",") + prefix + value;
  }
  return out;
}

}  // namespace

KeyAndCertificate create_ca(const std::string &common_name, std::chrono::seconds validity) {
  KeyPtr key = new_p256_key();
  // Backdated an hour: a host whose clock is behind still trusts a CA made just now. It is
  // valid until `validity` from now all the same.
  X509Ptr cert = new_certificate(key.get(), common_name, {}, validity + std::chrono::hours(1),
                                 std::chrono::hours(1));
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get())) != 1)
    throw_openssl("X509_set_issuer_name");
  add_extension(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
  add_extension(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
  add_extension(cert.get(), cert.get(), NID_subject_key_identifier, "hash");
  sign(cert.get(), key.get());
  return {certificate_pem(cert.get()), key_pem(key.get())};
}

KeyAndCertificate issue(const KeyAndCertificate &ca, const CertificateRequest &request) {
  KeyPtr key = new_p256_key();
  std::string certificate = detail::sign_certificate(ca, key.get(), request);
  return {certificate, key_pem(key.get())};
}

namespace detail {

std::string private_key_pem(EVP_PKEY *key) {
  return key_pem(key);
}

KeyPtr new_key() {
  return new_p256_key();
}

std::string sign_certificate(const KeyAndCertificate &ca, EVP_PKEY *key,
                             const CertificateRequest &request) {
  X509Ptr ca_cert = read_certificate(ca.certificate_pem, "CA certificate");
  KeyPtr ca_key = read_private_key(ca.key_pem, "CA key");
  if (X509_check_private_key(ca_cert.get(), ca_key.get()) != 1)
    throw_openssl("CA key does not belong to the CA certificate");
  if (!request.server_auth && !request.client_auth)
    throw Error("certificate: neither serverAuth nor clientAuth");
  X509Ptr cert = new_certificate(key, request.common_name, request.organizations, request.validity,
                                 request.backdate);
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert.get())) != 1)
    throw_openssl("X509_set_issuer_name");
  add_extension(cert.get(), ca_cert.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_extension(cert.get(), ca_cert.get(), NID_key_usage, "critical,digitalSignature");
  std::string usages;
  if (request.server_auth) usages = "serverAuth";
  if (request.client_auth) usages += std::string(usages.empty() ? "" : ",") + "clientAuth";
  add_extension(cert.get(), ca_cert.get(), NID_ext_key_usage, usages);
  std::string dns = join(request.dns_names, "DNS:");
  std::string ips = join(request.ip_addresses, "IP:");
  std::string san = dns + (dns.empty() || ips.empty() ? "" : ",") + ips;
  if (!san.empty()) add_extension(cert.get(), ca_cert.get(), NID_subject_alt_name, san);
  add_extension(cert.get(), ca_cert.get(), NID_subject_key_identifier, "hash");
  add_extension(cert.get(), ca_cert.get(), NID_authority_key_identifier, "keyid:always");
  sign(cert.get(), ca_key.get());
  return certificate_pem(cert.get());
}

}  // namespace detail

CertificateRequest node_request(const std::string &node_name) {
  if (node_name.empty()) throw Error("node certificate: node name is empty");
  CertificateRequest request;
  request.common_name = kNodeUserPrefix + node_name;
  request.organizations = {kNodesGroup};
  request.server_auth = true;
  request.client_auth = true;
  return request;
}

CertificateRequest controller_request() {
  CertificateRequest request;
  request.common_name = kControllerUser;
  request.organizations = {kControllersGroup};
  request.server_auth = true;
  request.client_auth = true;
  return request;
}

CertificateRequest user_request(const std::string &user, const std::vector<std::string> &groups) {
  if (user.empty()) throw Error("user certificate: user name is empty");
  if (user.rfind("system:", 0) == 0)
    throw Error("user certificate: '" + user +
                "' is reserved (system: names belong to nodes and the controller)");
  CertificateRequest request;
  request.common_name = user;
  request.organizations = groups;
  request.client_auth = true;
  return request;
}

std::string read_file(const std::filesystem::path &path, const std::string &what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(what + " " + path.string() + ": " + std::strerror(errno));
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

void write_private_file(const std::filesystem::path &path, const std::string &content,
                        bool overwrite) {
  if (!overwrite && std::filesystem::exists(path))
    throw Error(path.string() + ": exists (refusing to overwrite)");
  std::filesystem::path temp = path;
  temp += ".tmp";
  std::filesystem::remove(temp);
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) throw Error(temp.string() + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::string error = std::strerror(errno);
      ::close(fd);
      std::filesystem::remove(temp);
      throw Error(temp.string() + ": " + error);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0)
    throw Error(temp.string() + ": " + std::strerror(errno));
  std::error_code error;
  std::filesystem::rename(temp, path, error);
  if (error) throw Error(path.string() + ": " + error.message());
}

void write_tls_creds_dir(const std::filesystem::path &dir, const std::string &ca_pem,
                         const std::string &certificate_pem, const std::string &key_pem) {
  namespace fs = std::filesystem;
  fs::create_directories(dir);
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace);
  write_private_file(dir / "ca-cert.pem", ca_pem);
  for (const char *role : {"server", "client"}) {
    write_private_file(dir / (std::string(role) + "-cert.pem"), certificate_pem);
    write_private_file(dir / (std::string(role) + "-key.pem"), key_pem);
  }
}

}  // namespace hal::pki
