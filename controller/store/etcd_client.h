// etcd_client.h - the etcd store's connection to an etcd cluster: one gRPC channel per member
// endpoint (each TLS-verified against its own host name), a sticky current endpoint, and
// failover: a call goes to the current endpoint once its channel is connected, and moves on to
// the next endpoint when the channel cannot connect or a call fails as unavailable. Reads are
// retried until the retry budget is spent; a transaction is resent only when it was never sent
// (no connected member), otherwise it throws EtcdAmbiguousError: it may or may not have been
// applied, and the store decides (etcd_store.cc).
#ifndef HAL_CONTROLLER_STORE_ETCD_CLIENT_H
#define HAL_CONTROLLER_STORE_ETCD_CLIENT_H

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "controller/store/etcd_rpc.grpc.pb.h"
#include "controller/store/store.h"

namespace hal::controller::etcd {

/** How to reach an etcd cluster. */
struct ClientOptions {
  std::vector<std::string> endpoints;  ///< "host:port" of each member's client URL.
  std::string ca_file;    ///< PEM CA of the members' serving certificates; TLS when set.
  std::string cert_file;  ///< PEM client certificate (etcd --client-cert-auth), with key_file.
  std::string key_file;   ///< Its private key.
  /** Deadline of one call to one member. */
  std::chrono::milliseconds request_timeout{std::chrono::seconds(5)};
  /** How long one store operation keeps trying other members (and waiting for a leader). */
  std::chrono::milliseconds retry_budget{std::chrono::seconds(30)};
};

/** A transaction whose outcome is unknown: the member failed or timed out after it was sent. */
class EtcdAmbiguousError : public StoreError {
 public:
  /** An error naming the member and gRPC's message. */
  explicit EtcdAmbiguousError(const std::string &message)
      : StoreError(StoreErrorCode::kIo, message) {}
};

/** A connection to one etcd cluster. Thread-safe. */
class Client {
 public:
  /** Builds the channels (no connection is made yet). Throws StoreError(kIo) when a TLS file
   *  cannot be used. */
  explicit Client(ClientOptions options);

  /** A Range on the current member, retried on other members within the retry budget.
   *  Throws StoreError: kCompacted for a compacted revision, kIo otherwise. */
  etcdserverpb::RangeResponse range(const etcdserverpb::RangeRequest &request);

  /** A Txn on a connected member. Throws EtcdAmbiguousError when it was sent and then failed
   *  (unavailable, timed out), StoreError(kIo) otherwise (no member reachable within the
   *  retry budget, request refused). */
  etcdserverpb::TxnResponse txn(const etcdserverpb::TxnRequest &request);

  /** Compacts etcd's history before etcd revision `revision`. Throws StoreError. */
  void compact(int64_t revision);

  /** The channel of the current member, connected when one can be within `budget` (then
   *  `endpoint` receives its address). Throws StoreError(kIo) when none can. */
  std::shared_ptr<grpc::Channel> connected_channel(std::chrono::milliseconds budget,
                                                   std::string *endpoint);

  /** Reports that a call on `channel` failed as unavailable: the next call tries the next
   *  member (unless another caller moved on already). */
  void failed(const std::shared_ptr<grpc::Channel> &channel);

  /** The options it was built with. */
  const ClientOptions &options() const { return options_; }

  /** "host:port,host:port" for messages. */
  std::string endpoints() const;

 private:
  // A connected channel, waiting until `deadline`; throws StoreError(kIo) past it.
  std::shared_ptr<grpc::Channel> connect(std::chrono::steady_clock::time_point deadline,
                                         size_t *index);
  void move_on(size_t index);
  std::shared_ptr<grpc::Channel> new_channel(size_t index) const;

  ClientOptions options_;
  std::shared_ptr<grpc::ChannelCredentials> credentials_;
  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;  ///< One per endpoint.
  size_t current_ = 0;                                    ///< Index of the member calls go to.
};

/** A StoreError for a failed call to etcd: kCompacted for a compacted revision, kIo otherwise;
 *  the message names `what` and the member. */
StoreError call_error(const grpc::Status &status, const std::string &what,
                      const std::string &endpoint);

}  // namespace hal::controller::etcd

#endif  // HAL_CONTROLLER_STORE_ETCD_CLIENT_H
