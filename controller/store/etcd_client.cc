// etcd_client.cc - channels, failover and error mapping for the etcd store (see etcd_client.h).
#include "controller/store/etcd_client.h"

#include <thread>

#include "controller/pki/pki.h"
#include "controller/tls/credentials.h"

namespace hal::controller::etcd {
namespace {

using Clock = std::chrono::steady_clock;

// TLS (server-verified, plus a client certificate when given) or plaintext.
std::shared_ptr<grpc::ChannelCredentials> credentials(const ClientOptions &options) {
  if (options.ca_file.empty() && options.cert_file.empty() && options.key_file.empty())
    return grpc::InsecureChannelCredentials();
  try {
    if (!options.cert_file.empty() || !options.key_file.empty()) {
      // Checks each file, the key against the certificate and the certificate against the CA.
      return tls::channel_credentials(
          tls::TlsOptions{options.ca_file, options.cert_file, options.key_file, false});
    }
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = pki::read_file(options.ca_file, "etcd CA certificate");
    return grpc::SslCredentials(ssl);
  } catch (const std::exception &e) {
    throw StoreError(StoreErrorCode::kIo, std::string("etcd TLS: ") + e.what());
  }
}

// A deadline `timeout` from now, for a ClientContext.
std::chrono::system_clock::time_point deadline_in(std::chrono::milliseconds timeout) {
  return std::chrono::system_clock::now() + timeout;
}

// Unavailable or timed out: another member may answer.
bool transient(const grpc::Status &status) {
  return status.error_code() == grpc::StatusCode::UNAVAILABLE ||
         status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
}

}  // namespace

StoreError call_error(const grpc::Status &status, const std::string &what,
                      const std::string &endpoint) {
  const std::string message = "etcd " + what + " at " + endpoint + ": " + status.error_message();
  if (status.error_message().find("required revision has been compacted") != std::string::npos)
    return StoreError(StoreErrorCode::kCompacted, message + "; list and watch again");
  if (status.error_message().find("too many operations in txn") != std::string::npos)
    return StoreError(StoreErrorCode::kIo,
                      message +
                          " (raise etcd's --max-txn-ops: one HAL transaction writes every "
                          "object of a request together)");
  if (status.error_message().find("request is too large") != std::string::npos)
    return StoreError(StoreErrorCode::kIo, message + " (raise etcd's --max-request-bytes)");
  return StoreError(StoreErrorCode::kIo, message);
}

Client::Client(ClientOptions options)
    : options_(std::move(options)), credentials_(credentials(options_)) {
  if (options_.endpoints.empty())
    throw StoreError(StoreErrorCode::kIo, "etcd store: no endpoint given");
  for (size_t i = 0; i < options_.endpoints.size(); ++i) channels_.push_back(new_channel(i));
}

std::shared_ptr<grpc::Channel> Client::new_channel(size_t index) const {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);  // a list of every object is one response
  args.SetMaxSendMessageSize(-1);     // etcd enforces its own --max-request-bytes
  // Notice a member that vanished without closing the connection (etcd accepts pings every
  // 5 s or slower: --grpc-keepalive-min-time).
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  // A channel of its own connection: a new channel to a member that was down connects at once
  // instead of inheriting the old one's reconnect backoff (see connect()).
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(options_.endpoints[index], credentials_, args);
}

std::string Client::endpoints() const {
  std::string out;
  for (const std::string &endpoint : options_.endpoints) out += (out.empty() ? "" : ",") + endpoint;
  return out;
}

void Client::move_on(size_t index) {
  std::lock_guard lock(mutex_);
  if (current_ == index) current_ = (current_ + 1) % channels_.size();
}

void Client::failed(const std::shared_ptr<grpc::Channel> &channel) {
  std::lock_guard lock(mutex_);
  for (size_t i = 0; i < channels_.size(); ++i)
    if (channels_[i] == channel && current_ == i) current_ = (current_ + 1) % channels_.size();
}

std::shared_ptr<grpc::Channel> Client::connect(Clock::time_point deadline, size_t *index) {
  // Per member: wait for a connection at most this long before trying the next one.
  const auto per_member =
      std::min<Clock::duration>(options_.request_timeout, std::chrono::seconds(2));
  for (size_t failures = 1;; ++failures) {
    size_t i;
    std::shared_ptr<grpc::Channel> channel;
    {
      std::lock_guard lock(mutex_);
      i = current_;
      channel = channels_[i];
    }
    auto state = channel->GetState(/*try_to_connect=*/true);
    const auto give_up = std::min(deadline, Clock::now() + per_member);
    while (state != GRPC_CHANNEL_READY && state != GRPC_CHANNEL_TRANSIENT_FAILURE &&
           state != GRPC_CHANNEL_SHUTDOWN &&
           channel->WaitForStateChange(
               state, std::chrono::system_clock::now() + (give_up - Clock::now()))) {
      state = channel->GetState(true);
    }
    if (state == GRPC_CHANNEL_READY) {
      *index = i;
      return channel;
    }
    // gRPC's channel stays in TRANSIENT_FAILURE (and fails calls at once) until it tries again
    // on its own, seconds later; a member that came back meanwhile is served by a new channel.
    if (state == GRPC_CHANNEL_TRANSIENT_FAILURE) {
      std::lock_guard lock(mutex_);
      if (channels_[i] == channel) channels_[i] = new_channel(i);
    }
    move_on(i);
    if (Clock::now() >= deadline)
      throw StoreError(StoreErrorCode::kIo, "etcd: no member reachable at " + endpoints());
    // Every member refusing at once (a cluster restarting): do not spin.
    if (failures % channels_.size() == 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

std::shared_ptr<grpc::Channel> Client::connected_channel(std::chrono::milliseconds budget,
                                                         std::string *endpoint) {
  size_t index = 0;
  auto channel = connect(Clock::now() + budget, &index);
  if (endpoint != nullptr) *endpoint = options_.endpoints[index];
  return channel;
}

etcdserverpb::RangeResponse Client::range(const etcdserverpb::RangeRequest &request) {
  const auto deadline = Clock::now() + options_.retry_budget;
  for (;;) {
    size_t index = 0;
    auto channel = connect(deadline, &index);
    grpc::ClientContext context;
    context.set_deadline(deadline_in(options_.request_timeout));
    etcdserverpb::RangeResponse response;
    grpc::Status status = etcdserverpb::KV::NewStub(channel)->Range(&context, request, &response);
    if (status.ok()) return response;
    if (!transient(status) || Clock::now() >= deadline)
      throw call_error(status, "range", options_.endpoints[index]);
    move_on(index);
  }
}

etcdserverpb::TxnResponse Client::txn(const etcdserverpb::TxnRequest &request) {
  size_t index = 0;
  auto channel = connect(Clock::now() + options_.retry_budget, &index);
  grpc::ClientContext context;
  context.set_deadline(deadline_in(options_.request_timeout));
  etcdserverpb::TxnResponse response;
  grpc::Status status = etcdserverpb::KV::NewStub(channel)->Txn(&context, request, &response);
  if (status.ok()) return response;
  if (transient(status)) {
    move_on(index);
    throw EtcdAmbiguousError("etcd txn at " + options_.endpoints[index] +
                             " failed after it was sent: " + status.error_message());
  }
  throw call_error(status, "txn", options_.endpoints[index]);
}

void Client::compact(int64_t revision) {
  size_t index = 0;
  auto channel = connect(Clock::now() + options_.retry_budget, &index);
  grpc::ClientContext context;
  context.set_deadline(deadline_in(options_.request_timeout));
  etcdserverpb::CompactionRequest request;
  request.set_revision(revision);
  etcdserverpb::CompactionResponse response;
  grpc::Status status = etcdserverpb::KV::NewStub(channel)->Compact(&context, request, &response);
  if (!status.ok()) throw call_error(status, "compact", options_.endpoints[index]);
}

}  // namespace hal::controller::etcd
