// tls_relay.h - carries one plain byte stream (a VMM's or the mock's migration stream) over
// mutual TLS between two hosts, for backends whose hypervisor has no TLS of its own. On the
// source the hypervisor connects to the relay's plain listener (a unix socket in a private
// directory, so no other local user can slip in), which connects to the target over TLS
// presenting client-cert.pem and checking the target's certificate names the host it dials. On
// the target the relay listens for TLS, requires a client certificate of the CA whose subject
// matches peerSubjects, and only then connects to the hypervisor's plain receive socket.
// Handshakes that fail are refused and listening goes on; the first connection that passes is
// relayed and nothing else is accepted. Built on Boost.Asio's OpenSSL streams (TLS 1.2+).
#ifndef HAL_BACKENDS_COMMON_TLS_RELAY_H
#define HAL_BACKENDS_COMMON_TLS_RELAY_H

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "backends/common/migration_tls_params.h"

namespace hal::backend_common {

/** One relayed connection, on its own thread. Thread-safe. */
class TlsRelay {
 public:
  /** Which end of the migration this relay serves. */
  enum class Role {
    kSource,  ///< plain listener -> TLS client to the target
    kTarget,  ///< TLS listener -> plain connection to the receiving hypervisor
  };

  /** Loads `tls`'s PEM files for `role` and binds `listen_url` now. Source: `listen_url` is
   *  "unix:" (a socket in a new private directory; see listen_url()) or "unix:PATH", and
   *  `connect_url` the target's "tcp:HOST:PORT". Target: `listen_url` is "tcp:HOST:PORT" (port
   *  0 = any) and `connect_url` the plain receiver ("unix:PATH" or "tcp:HOST:PORT"). Throws
   *  hal::plugin::Failure: INVALID_ARGUMENT naming params.tls and the file it cannot use,
   *  UNAVAILABLE when it cannot listen. */
  TlsRelay(Role role, const MigrationTlsParams &tls, const std::string &listen_url,
           std::string connect_url);
  /** Cancels and joins; removes a socket file or private directory it made. */
  ~TlsRelay();
  TlsRelay(const TlsRelay &) = delete;
  TlsRelay &operator=(const TlsRelay &) = delete;

  /** The URL it listens on ("tcp:HOST:PORT" with the port bound, or "unix:PATH"). */
  const std::string &listen_url() const { return listen_url_; }
  /** Why a connection was refused or the relay ended early ("" while all is well). */
  std::string error() const;
  /** Waits until the relayed connection has ended (both directions closed), at most
   *  `timeout`; true at once when no connection was relayed yet. */
  bool wait_finished(std::chrono::milliseconds timeout) const;
  /** Stops listening and cuts the relayed connection. */
  void cancel();

 private:
  struct State;

  std::shared_ptr<State> state_;
  std::string listen_url_;
  std::thread thread_;
};

}  // namespace hal::backend_common

#endif  // HAL_BACKENDS_COMMON_TLS_RELAY_H
