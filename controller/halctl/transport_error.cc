// transport_error.cc - TLS failures told apart by OpenSSL's and gRPC's texts (see
// transport_error.h).
#include "controller/halctl/transport_error.h"

#include <algorithm>
#include <cctype>
#include <ostream>

namespace hal::halctl {
namespace {

bool contains(const std::string &lower_text, const char *what) {
  return lower_text.find(what) != std::string::npos;
}

}  // namespace

std::optional<std::string> explain_transport_error(const std::string &grpc_message,
                                                   const Connection &connection) {
  std::string text = grpc_message;
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const std::string server = connection.server;
  if (connection.tls.insecure) {
    if (contains(text, "socket closed") || contains(text, "connection reset") ||
        contains(text, "end of tcp stream"))
      return "the connection to " + server +
             " was closed or refused without TLS (--insecure): if the controller serves mutual "
             "TLS, use a configuration with its CA and your certificate instead";
    return std::nullopt;
  }
  if (contains(text, "certificate expired") || contains(text, "certificate_expired"))
    return "the server refused your client certificate " + connection.tls.cert_file +
           " as expired: ask for a new one (hal-pki user NAME)";
  if (contains(text, "unknown ca") || contains(text, "unknown_ca") ||
      contains(text, "bad certificate") || contains(text, "bad_certificate"))
    return "the server does not trust your client certificate " + connection.tls.cert_file +
           ": it is not signed by the server's cluster CA (wrong CA)";
  if (contains(text, "certificate required") || contains(text, "certificate_required"))
    return "the server requires a client certificate";
  if (contains(text, "peer name") && contains(text, "not in peer certificate"))
    return "the server's certificate does not name " + server +
           " (its subjectAltName DNS/IP entries): reissue it with hal-pki --dns/--ip";
  if (contains(text, "wrong version number") || contains(text, "http_request") ||
      contains(text, "packet length too long"))
    return "TLS handshake with " + server +
           " failed: the server may not speak TLS (a controller started --insecure)";
  // TLS 1.3: the server checks our certificate after we think the handshake is done, and
  // refusing it just closes the connection.
  if (contains(text, "socket closed") || contains(text, "end of tcp stream") ||
      contains(text, "connection reset"))
    return "the server closed the connection after the TLS handshake: it did not accept your "
           "client certificate " +
           connection.tls.cert_file +
           " (not signed by the server's cluster CA, or expired by its clock); the server's log "
           "names the reason";
  if (contains(text, "certificate verify failed") || contains(text, "certificate_verify_failed") ||
      contains(text, "handshake failed"))
    return "TLS handshake with " + server + " failed: its certificate is not signed by the CA " +
           connection.tls.ca_file + " (wrong CA), or is expired";
  return std::nullopt;
}

void report_server_error(const ServerError &error, const Connection &connection, Io &io) {
  io.err << "Error from server (" << error.code() << "): " << error.what() << "\n";
  if (error.code() == "RESOURCE_EXHAUSTED" &&
      std::string(error.what()).find("larger than max") != std::string::npos) {
    io.err << "error: a message was larger than its receiver takes (an apply at most what "
              "hal-controller --max-manifest-bytes says): apply the manifest in parts\n";
    return;
  }
  if (error.code() != "UNAVAILABLE") return;
  if (auto explanation = explain_transport_error(error.what(), connection))
    io.err << "error: " << *explanation << "\n";
}

}  // namespace hal::halctl
