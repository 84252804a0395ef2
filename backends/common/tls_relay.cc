// tls_relay.cc - TlsRelay over Boost.Asio's OpenSSL streams (see tls_relay.h). Everything runs
// on the relay's one thread; other threads only post cancel() and read the shared status.
// A direction that reaches end of stream is half-closed on the other side (TCP FIN under the TLS
// stream, which the peer relay reads as the end of that direction), so each end sees the other
// close as it would on a direct connection.
#include "backends/common/tls_relay.h"

#include <fnmatch.h>
#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <stdlib.h>
#include <sys/stat.h>

// clang-format off
#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange in C++20
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
// clang-format on

#include <array>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "hal/plugin.hpp"

namespace hal::backend_common {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using PlainProtocol = asio::generic::stream_protocol;
using PlainAcceptor = asio::basic_socket_acceptor<PlainProtocol>;
using boost::system::error_code;
using hal::plugin::Failure;

namespace {

// How long connecting and the TLS handshake may take before the connection is dropped.
constexpr auto kHandshakeTimeout = std::chrono::seconds(20);

/** "tcp:HOST:PORT" or "unix:PATH", taken apart. */
struct Url {
  bool unix_socket = false;
  std::string path;  // unix
  std::string host;  // tcp, without brackets
  std::string port;  // tcp
};

Url parse_url(const std::string &url) {
  Url parsed;
  if (url.rfind("unix:", 0) == 0) {
    parsed.unix_socket = true;
    parsed.path = url.substr(5);
    return parsed;
  }
  if (url.rfind("tcp:", 0) != 0)
    throw std::runtime_error("'" + url + "' is neither tcp:HOST:PORT nor unix:PATH");
  const std::string rest = url.substr(4);
  if (!rest.empty() && rest.front() == '[') {
    const size_t close = rest.find(']');
    if (close != std::string::npos && close + 1 < rest.size() && rest[close + 1] == ':') {
      parsed.host = rest.substr(1, close - 1);
      parsed.port = rest.substr(close + 2);
    }
  } else if (const size_t colon = rest.rfind(':'); colon != std::string::npos) {
    parsed.host = rest.substr(0, colon);
    parsed.port = rest.substr(colon + 1);
  }
  if (parsed.host.empty() || parsed.port.empty())
    throw std::runtime_error("'" + url + "' is not tcp:HOST:PORT");
  return parsed;
}

tcp::endpoint resolve(asio::io_context &io, const Url &url, bool passive) {
  tcp::resolver resolver(io);
  error_code ec;
  auto flags = tcp::resolver::numeric_service | (passive ? tcp::resolver::passive : 0);
  auto results = resolver.resolve(url.host, url.port, static_cast<tcp::resolver::flags>(flags), ec);
  if (ec || results.empty())
    throw std::runtime_error("cannot resolve " + url.host + ":" + url.port + ": " + ec.message());
  return results.begin()->endpoint();
}

// The subject of `cert` as QEMU prints it: RDNs in certificate order, RFC 4514 escaping
// ("O=system:nodes,CN=system:node:a").
std::string subject_of(X509 *cert) {
  if (cert == nullptr) return "";
  BIO *bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) return "";
  X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253 & ~XN_FLAG_DN_REV);
  char *data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  std::string subject(data, size > 0 ? static_cast<size_t>(size) : 0);
  BIO_free(bio);
  return subject;
}

}  // namespace

/** One connection: its TLS side and its plain side. */
struct TlsSession : std::enable_shared_from_this<TlsSession> {
  TlsSession(asio::io_context &io, ssl::context &ctx, tcp::socket socket)
      : tls(std::move(socket), ctx), plain(io), timer(io) {}

  ssl::stream<tcp::socket> tls;
  PlainProtocol::socket plain;
  asio::steady_timer timer;
  std::array<char, 64 * 1024> up{};    // plain -> TLS
  std::array<char, 64 * 1024> down{};  // TLS -> plain
  int open_directions = 2;
  std::string refused_subject;  // target: a verified certificate outside peerSubjects
  bool relayed = false;         // the connection the relay carries (not a candidate being checked)
  bool closed = false;

  // Why a handshake failed: the TLS error and, when certificate verification failed, why.
  std::string handshake_error(const error_code &ec) {
    if (!refused_subject.empty())
      return "certificate subject " + refused_subject + " matches no peerSubjects pattern";
    std::string why = ec.message();
    const long verify = SSL_get_verify_result(tls.native_handle());
    if (verify != X509_V_OK) why += " (" + std::string(X509_verify_cert_error_string(verify)) + ")";
    return why;
  }

  // Closes both sides and the timer; pending operations end with operation_aborted.
  void close() {
    if (closed) return;
    closed = true;
    error_code ignored;
    timer.cancel();
    tls.lowest_layer().close(ignored);
    plain.close(ignored);
  }
};

/** Everything the relay's thread works on. */
struct TlsRelay::State : std::enable_shared_from_this<TlsRelay::State> {
  State(Role r, ssl::context::method method) : role(r), ctx(method) {}

  Role role;
  asio::io_context io;
  ssl::context ctx;
  std::string connect_url;
  std::string hostname;
  std::vector<std::string> peer_subjects;
  std::unique_ptr<PlainAcceptor> plain_acceptor;  // source
  std::unique_ptr<tcp::acceptor> tls_acceptor;    // target
  std::vector<std::weak_ptr<TlsSession>> sessions;
  bool claimed = false;
  std::filesystem::path private_dir;  // made for a "unix:" listener, removed at the end
  std::filesystem::path socket_file;

  // Shared with other threads.
  mutable std::mutex mutex;
  mutable std::condition_variable changed;
  std::string error;
  bool relaying = false;
  bool finished = false;
  bool cancelled = false;

  void set_error(const std::string &why) {
    std::lock_guard lock(mutex);
    if (!cancelled) error = why;
  }

  void arm_timer(const std::shared_ptr<TlsSession> &session, const std::string &what) {
    session->timer.expires_after(kHandshakeTimeout);
    std::weak_ptr<TlsSession> weak = session;
    session->timer.async_wait([self = shared_from_this(), weak, what](const error_code &ec) {
      auto session = weak.lock();
      if (ec || !session || session->closed) return;
      self->end(session, what + " timed out");
    });
  }

  // Ends `session`; with `why`, records it as the error. The relayed session's end finishes the
  // relay; a candidate's end only drops it.
  void end(const std::shared_ptr<TlsSession> &session, const std::string &why) {
    if (session->closed) return;
    if (!why.empty()) set_error(why);
    session->close();
    if (!session->relayed) return;
    std::lock_guard lock(mutex);
    finished = true;
    changed.notify_all();
  }

  void claim(const std::shared_ptr<TlsSession> &session) {
    claimed = true;
    session->relayed = true;
    error_code ignored;
    if (plain_acceptor) plain_acceptor->close(ignored);
    if (tls_acceptor) tls_acceptor->close(ignored);
    std::lock_guard lock(mutex);
    relaying = true;
    changed.notify_all();
  }

  // Source: the first plain connection is relayed to the target over TLS.
  void accept_plain() {
    auto socket = std::make_shared<PlainProtocol::socket>(io);
    plain_acceptor->async_accept(*socket, [self = shared_from_this(), socket](error_code ec) {
      if (ec) return;  // closed by cancel()
      auto session = std::make_shared<TlsSession>(self->io, self->ctx, tcp::socket(self->io));
      session->plain = std::move(*socket);
      self->sessions.push_back(session);
      self->claim(session);
      self->connect_target(session);
    });
  }

  void connect_target(const std::shared_ptr<TlsSession> &session) {
    tcp::endpoint endpoint;
    std::string host;
    try {
      const Url url = parse_url(connect_url);
      if (url.unix_socket) throw std::runtime_error("the target must be tcp:HOST:PORT");
      endpoint = resolve(io, url, false);
      host = hostname.empty() ? url.host : hostname;
    } catch (const std::exception &e) {
      return end(session, std::string("TLS relay: ") + e.what());
    }
    // The target's certificate must name the host dialled (or tls.hostname): an IP address in
    // subjectAltName IP, a name in subjectAltName DNS.
    SSL *ssl = session->tls.native_handle();
    X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
    error_code not_ip;
    asio::ip::make_address(host, not_ip);
    if (!not_ip) {
      X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
    } else {
      X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0);
      SSL_set_tlsext_host_name(ssl, host.c_str());
    }
    arm_timer(session, "connecting to the migration target " + connect_url);
    session->tls.lowest_layer().async_connect(
        endpoint, [self = shared_from_this(), session](const error_code &ec) {
          if (session->closed) return;
          if (ec)
            return self->end(session, "TLS relay: cannot connect to the migration target " +
                                          self->connect_url + ": " + ec.message());
          session->tls.async_handshake(
              ssl::stream_base::client, [self, session](const error_code &handshake) {
                if (session->closed) return;
                if (handshake)
                  return self->end(session, "TLS relay: handshake with the migration target " +
                                                self->connect_url +
                                                " failed: " + session->handshake_error(handshake));
                session->timer.cancel();
                self->pump(session);
              });
        });
  }

  // Target: every connection gets a handshake; the first that passes and whose subject is
  // allowed is relayed to the receiver, the others are dropped.
  void accept_tls() {
    auto socket = std::make_shared<tcp::socket>(io);
    tls_acceptor->async_accept(*socket, [self = shared_from_this(), socket](error_code ec) {
      if (ec || self->claimed) return;
      error_code no_peer;
      const tcp::endpoint peer = socket->remote_endpoint(no_peer);
      const std::string from = no_peer ? "a source" : "source " + peer.address().to_string();
      auto session = std::make_shared<TlsSession>(self->io, self->ctx, std::move(*socket));
      self->sessions.push_back(session);
      // The subject is checked while verifying, so a refused source gets a TLS alert (with TLS
      // 1.3 it would otherwise believe its handshake done).
      std::weak_ptr<TlsSession> weak = session;
      session->tls.set_verify_callback([self, weak](bool preverified, ssl::verify_context &ctx) {
        X509_STORE_CTX *store = ctx.native_handle();
        if (!preverified || X509_STORE_CTX_get_error_depth(store) != 0) return preverified;
        const std::string subject = subject_of(X509_STORE_CTX_get_current_cert(store));
        if (self->allowed(subject)) return true;
        if (auto session = weak.lock()) session->refused_subject = subject;
        return false;
      });
      self->arm_timer(session, "TLS handshake with " + from);
      session->tls.async_handshake(
          ssl::stream_base::server, [self, session, from](const error_code &handshake) {
            if (session->closed) return;
            if (handshake)
              return self->end(session, "TLS relay: refused " + from + ": " +
                                            session->handshake_error(handshake));
            if (self->claimed) return self->end(session, "");
            self->claim(session);
            self->connect_receiver(session);
          });
      self->accept_tls();
    });
  }

  bool allowed(const std::string &subject) const {
    if (peer_subjects.empty()) return true;
    for (const std::string &pattern : peer_subjects)
      if (::fnmatch(pattern.c_str(), subject.c_str(), 0) == 0) return true;
    return false;
  }

  void connect_receiver(const std::shared_ptr<TlsSession> &session) {
    PlainProtocol::endpoint endpoint;
    try {
      const Url url = parse_url(connect_url);
      endpoint = url.unix_socket
                     ? PlainProtocol::endpoint(asio::local::stream_protocol::endpoint(url.path))
                     : PlainProtocol::endpoint(resolve(io, url, false));
    } catch (const std::exception &e) {
      return end(session, std::string("TLS relay: ") + e.what());
    }
    session->plain.async_connect(
        endpoint, [self = shared_from_this(), session](const error_code &ec) {
          if (session->closed) return;
          if (ec)
            return self->end(session, "TLS relay: cannot connect to the migration receiver " +
                                          self->connect_url + ": " + ec.message());
          session->timer.cancel();
          self->pump(session);
        });
  }

  void pump(const std::shared_ptr<TlsSession> &session) {
    pump_up(session);
    pump_down(session);
  }

  // One direction reached its end: half-close the other side; both done ends the session.
  void direction_done(const std::shared_ptr<TlsSession> &session) {
    if (--session->open_directions == 0) end(session, "");
  }

  void pump_up(const std::shared_ptr<TlsSession> &session) {
    session->plain.async_read_some(
        asio::buffer(session->up),
        [self = shared_from_this(), session](const error_code &ec, size_t size) {
          if (session->closed) return;
          if (ec == asio::error::eof) {
            error_code ignored;
            session->tls.lowest_layer().shutdown(tcp::socket::shutdown_send, ignored);
            return self->direction_done(session);
          }
          if (ec) return self->end(session, "TLS relay: reading the plain side: " + ec.message());
          asio::async_write(session->tls, asio::buffer(session->up.data(), size),
                            [self, session](const error_code &written, size_t) {
                              if (session->closed) return;
                              if (written)
                                return self->end(
                                    session, "TLS relay: sending over TLS: " + written.message());
                              self->pump_up(session);
                            });
        });
  }

  void pump_down(const std::shared_ptr<TlsSession> &session) {
    session->tls.async_read_some(
        asio::buffer(session->down),
        [self = shared_from_this(), session](const error_code &ec, size_t size) {
          if (session->closed) return;
          if (ec == asio::error::eof || ec == ssl::error::stream_truncated) {
            error_code ignored;
            session->plain.shutdown(PlainProtocol::socket::shutdown_send, ignored);
            return self->direction_done(session);
          }
          if (ec) return self->end(session, "TLS relay: reading over TLS: " + ec.message());
          asio::async_write(session->plain, asio::buffer(session->down.data(), size),
                            [self, session](const error_code &written, size_t) {
                              if (session->closed) return;
                              if (written)
                                return self->end(session, "TLS relay: writing the plain side: " +
                                                              written.message());
                              self->pump_down(session);
                            });
        });
  }

  // On the relay's thread: stop listening, cut every connection.
  void shut_down() {
    error_code ignored;
    if (plain_acceptor) plain_acceptor->close(ignored);
    if (tls_acceptor) tls_acceptor->close(ignored);
    for (const auto &weak : sessions)
      if (auto session = weak.lock()) end(session, "");
  }
};

TlsRelay::TlsRelay(Role role, const MigrationTlsParams &tls, const std::string &listen_url,
                   std::string connect_url) {
  const bool source = role == Role::kSource;
  state_ =
      std::make_shared<State>(role, source ? ssl::context::tls_client : ssl::context::tls_server);
  State &s = *state_;
  s.connect_url = std::move(connect_url);
  s.hostname = tls.hostname;
  s.peer_subjects = tls.peer_subjects;
  s.ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                    ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  s.ctx.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  const std::vector<std::string> files = migration_tls_files(source);
  const std::filesystem::path dir(tls.dir);
  error_code ec;
  auto refuse = [&](const std::string &file, const std::string &why) {
    throw Failure(HAL_INVALID_ARGUMENT,
                  "migration params.tls.dir: cannot use " + (dir / file).string() + ": " + why);
  };
  if (s.ctx.load_verify_file((dir / files[0]).string(), ec); ec) refuse(files[0], ec.message());
  if (s.ctx.use_certificate_chain_file((dir / files[1]).string(), ec); ec)
    refuse(files[1], ec.message());
  if (s.ctx.use_private_key_file((dir / files[2]).string(), ssl::context::pem, ec); ec)
    refuse(files[2], ec.message());
  if (SSL_CTX_check_private_key(s.ctx.native_handle()) != 1)
    refuse(files[2], "not the key of " + files[1]);

  try {
    const Url url = parse_url(listen_url);
    if (source) {
      if (!url.unix_socket) throw std::runtime_error("the source side listens on unix: only");
      s.socket_file = url.path;
      if (url.path.empty()) {
        std::string pattern =
            (std::filesystem::temp_directory_path() / "hal-tls-relay-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr)  // 0700: no other user reaches the socket
          throw std::runtime_error("cannot create a private directory: " +
                                   std::string(std::strerror(errno)));
        s.private_dir = pattern;
        s.socket_file = s.private_dir / "plain.sock";
      }
      std::filesystem::remove(s.socket_file);
      s.plain_acceptor = std::make_unique<PlainAcceptor>(s.io);
      const PlainProtocol::endpoint endpoint(
          asio::local::stream_protocol::endpoint(s.socket_file.string()));
      s.plain_acceptor->open(endpoint.protocol());
      s.plain_acceptor->bind(endpoint);
      ::chmod(s.socket_file.c_str(), 0600);
      s.plain_acceptor->listen(1);
      listen_url_ = "unix:" + s.socket_file.string();
    } else {
      if (url.unix_socket) throw std::runtime_error("the target side listens on tcp: only");
      s.tls_acceptor = std::make_unique<tcp::acceptor>(s.io);
      const tcp::endpoint endpoint = resolve(s.io, url, true);
      s.tls_acceptor->open(endpoint.protocol());
      s.tls_acceptor->set_option(tcp::acceptor::reuse_address(true));
      s.tls_acceptor->bind(endpoint);
      s.tls_acceptor->listen();
      const std::string host =
          url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
      listen_url_ = "tcp:" + host + ":" + std::to_string(s.tls_acceptor->local_endpoint().port());
    }
  } catch (const std::exception &e) {
    std::error_code ignored;
    if (!s.private_dir.empty()) std::filesystem::remove_all(s.private_dir, ignored);
    throw Failure(HAL_UNAVAILABLE, "TLS relay: cannot listen on " + listen_url + ": " + e.what());
  }
  if (source) {
    s.accept_plain();
  } else {
    s.accept_tls();
  }
  thread_ = std::thread([state = state_] { state->io.run(); });
}

TlsRelay::~TlsRelay() {
  cancel();
  thread_.join();
  // The relay's thread returns once it has no work left (a finished relay), possibly before
  // cancel() posted shut_down: handlers still queued hold the state, which owns the io_context
  // that holds them. Running them here releases it (bounded, in case a peer is still there).
  state_->io.restart();
  state_->io.run_for(std::chrono::seconds(1));
  std::error_code ignored;
  if (!state_->private_dir.empty()) {
    std::filesystem::remove_all(state_->private_dir, ignored);
  } else if (!state_->socket_file.empty()) {
    std::filesystem::remove(state_->socket_file, ignored);
  }
}

std::string TlsRelay::error() const {
  std::lock_guard lock(state_->mutex);
  return state_->error;
}

bool TlsRelay::wait_finished(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(state_->mutex);
  return state_->changed.wait_for(lock, timeout,
                                  [&] { return !state_->relaying || state_->finished; });
}

void TlsRelay::cancel() {
  {
    std::lock_guard lock(state_->mutex);
    state_->cancelled = true;
  }
  asio::post(state_->io, [state = state_] { state->shut_down(); });
}

}  // namespace hal::backend_common
