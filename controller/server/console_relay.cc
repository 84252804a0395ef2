// console_relay.cc - Controller.Console relayed to NodeAgent.Console (see console_relay.h).
//
// A Session is both reactors of one relayed console: the server side (the user's call) and, as
// a member, the client side (the call to the node). Every reaction takes the session's mutex.
// The data path is a ping-pong per direction: client read -> node write -> (done) client read;
// node read -> client write -> (done) node read. The node call holds a gRPC "hold" while the
// session may still start operations on it from the other call's reactions, and releases it
// (release_node) as soon as it will start none. The session owns itself (self_) until both
// calls are done.
#include "controller/server/console_relay.h"

#include <optional>

#include "core/log/log.h"

namespace hal::controller {

using Clock = std::chrono::steady_clock;

namespace {

std::string seconds_text(std::chrono::milliseconds duration) {
  const auto ms = duration.count();
  return ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms";
}

std::string status_text(const grpc::Status &status) {
  return status.ok()
             ? std::string("OK")
             : std::to_string(static_cast<int>(status.error_code())) + " " + status.error_message();
}

}  // namespace

class ConsoleRelay::Session final
    : public grpc::ServerBidiReactor<v1::ConsoleInput, v1::ConsoleOutput> {
 public:
  Session(ConsoleRelay &relay, grpc::CallbackServerContext *context)
      : relay_(relay), context_(context), node_(*this), opened_at_(Clock::now()) {}
  ~Session() override { relay_.forget(this); }

  // Starts reading the first message, or refuses the call (`refusal` not OK).
  void start(std::shared_ptr<Session> self, const grpc::Status &refusal) {
    std::lock_guard lock(mutex_);
    self_ = std::move(self);
    if (!refusal.ok()) return finish(refusal);
    StartRead(&in_);
  }

  // Client -> controller.
  void OnReadDone(bool ok) override {
    std::lock_guard lock(mutex_);
    if (!ok) {
      if (first_)
        return finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                   "name: the first Console message must name the "
                                   "VirtualMachineInstance"));
      // The client half-closed: the node ends its side (and the call) when told.
      if (!context_->IsCancelled() && node_started_ && !node_released_) node_.StartWritesDone();
      return;
    }
    if (in_.data().size() > relay_.limits_.max_input_bytes)
      return end(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                              "data: a Console message may carry at most " +
                                  std::to_string(relay_.limits_.max_input_bytes) + " bytes, not " +
                                  std::to_string(in_.data().size())),
                 false);
    if (first_) {
      first_ = false;
      return open_node();
    }
    if (node_released_ || finished_) return;
    to_node_.Clear();
    to_node_.set_data(in_.data());
    node_write_since_ = Clock::now();
    node_.StartWrite(&to_node_);
  }

  // Controller -> client.
  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mutex_);
    client_writing_ = false;
    client_write_since_ = {};
    if (pending_finish_) {
      Finish(*pending_finish_);
      pending_finish_.reset();
    }
    if (!ok) return end(grpc::Status(grpc::StatusCode::CANCELLED, "the client went away"), false);
    if (finished_ || node_released_) return release_node();
    node_.StartRead(&from_node_);
  }

  void OnCancel() override {
    std::lock_guard lock(mutex_);
    end(grpc::Status(grpc::StatusCode::CANCELLED, "the client went away"), false);
  }

  void OnDone() override {
    std::shared_ptr<Session> last;
    {
      std::lock_guard lock(mutex_);
      server_done_ = true;
      cancel_node();
      if (!node_started_ || node_done_) last = std::move(self_);
    }
  }

  // The watchdog: a stalled write, a node that does not attach, the relay stopping.
  void check(Clock::time_point now) {
    std::lock_guard lock(mutex_);
    if (server_done_) return;
    const ConsoleRelayLimits &limits = relay_.limits_;
    const bool client_stalled =
        client_write_since_ != Clock::time_point{} && now - client_write_since_ > limits.stall;
    if (finished_) {
      // Finished but the last write to the client does not complete: cancel its call.
      if (client_stalled) context_->TryCancel();
      return;
    }
    if (node_started_ && !attached_ && now - opened_at_ > limits.attach)
      return end(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                              "node " + target_.node + " did not open the console of VM '" +
                                  target_.vm_id + "' within " + seconds_text(limits.attach)),
                 false);
    if (client_stalled)
      return end(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                              "the client read no console output for " +
                                  seconds_text(limits.stall) + ": session closed"),
                 true);
    if (node_write_since_ != Clock::time_point{} && now - node_write_since_ > limits.stall)
      return end(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                              "node " + target_.node + " took no console input for " +
                                  seconds_text(limits.stall) + ": session closed"),
                 false);
  }

  // Ends the session (the relay is shutting down).
  void stop() {
    std::lock_guard lock(mutex_);
    if (server_done_) return;
    end(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the controller is shutting down"), true);
  }

 private:
  // The node side of the session.
  class NodeSide final : public grpc::ClientBidiReactor<v1::ConsoleChunk, v1::ConsoleChunk> {
   public:
    explicit NodeSide(Session &session) : session_(session) {}
    void OnWriteDone(bool ok) override { session_.node_write_done(ok); }
    void OnReadDone(bool ok) override { session_.node_read_done(ok); }
    void OnDone(const grpc::Status &status) override { session_.node_done(status); }

   private:
    Session &session_;
  };

  // The first message is in in_: resolve it and open the node's console.
  void open_node() {
    grpc::Status resolved = relay_.resolve_(*context_, in_, target_);
    if (!resolved.ok()) return finish(resolved);
    if (!target_.channel)
      return finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                 "node " + target_.node + " is not connected"));
    stub_ = v1::NodeAgent::NewStub(target_.channel);
    to_node_.set_vm_id(target_.vm_id);
    to_node_.set_data(in_.data());
    node_started_ = true;
    opened_at_ = Clock::now();
    stub_->async()->Console(&node_context_, &node_);
    node_write_since_ = opened_at_;
    node_.StartWrite(&to_node_);
    node_.StartRead(&from_node_);
    node_.AddHold();  // Released by release_node.
    node_.StartCall();
  }

  void node_write_done(bool ok) {
    std::lock_guard lock(mutex_);
    node_write_since_ = {};
    // A failed write: the node's call is ending; node_done says why.
    if (!ok || finished_ || node_released_) return;
    StartRead(&in_);
  }

  void node_read_done(bool ok) {
    std::lock_guard lock(mutex_);
    if (!ok || finished_) return release_node();  // The node ended; node_done follows.
    if (!attached_) {
      attached_ = true;
      hal::log("controller")
          ->info("console: {} attached to {} (VM {} on node {})", target_.caller, target_.label,
                 target_.vm_id, target_.node);
    }
    out_.set_data(from_node_.data());
    client_writing_ = true;
    client_write_since_ = Clock::now();
    StartWrite(&out_);
  }

  void node_done(const grpc::Status &status) {
    std::shared_ptr<Session> last;
    {
      std::lock_guard lock(mutex_);
      node_done_ = true;
      node_released_ = true;
      // Our own cancel reads as CANCELLED from the node: answer the reason instead.
      grpc::Status outcome =
          status.error_code() == grpc::StatusCode::CANCELLED && reason_ ? *reason_ : status;
      hal::log("controller")
          ->info("console: {} left {} (node {}): {}", target_.caller, target_.label, target_.node,
                 status_text(outcome));
      finish(outcome);
      if (server_done_) last = std::move(self_);
    }
  }

  // Ends the session with `status`: the client's call finishes with it (once its pending write
  // is done; `cancel_client` also cancels the call, for a client that stopped reading) and the
  // node's call is cancelled.
  void end(const grpc::Status &status, bool cancel_client) {
    if (!reason_) reason_ = status;
    if (status.error_code() != grpc::StatusCode::CANCELLED)
      hal::log("controller")
          ->warn("console: {} on {}: {}", target_.caller.empty() ? "session" : target_.caller,
                 target_.label.empty() ? "(not opened)" : target_.label, status.error_message());
    finish(status);
    cancel_node();
    if (cancel_client && !server_done_) context_->TryCancel();
  }

  // Finishes the client's call once (after its pending write, if any).
  void finish(const grpc::Status &status) {
    if (finished_) return;
    finished_ = true;
    if (client_writing_)
      pending_finish_ = status;
    else
      Finish(status);
  }

  // Cancels the node's call (if it runs) and starts nothing more on it.
  void cancel_node() {
    if (node_started_ && !node_done_) node_context_.TryCancel();
    release_node();
  }

  // The session starts no more operations on the node's call: its OnDone may come.
  void release_node() {
    if (!node_started_ || node_released_) return;
    node_released_ = true;
    node_.RemoveHold();
  }

  ConsoleRelay &relay_;
  grpc::CallbackServerContext *context_;
  std::recursive_mutex mutex_;  // Recursive: a gRPC operation may run a reaction inline.
  std::shared_ptr<Session> self_;
  ConsoleTarget target_;
  std::unique_ptr<v1::NodeAgent::Stub> stub_;
  grpc::ClientContext node_context_;
  NodeSide node_;
  v1::ConsoleInput in_;
  v1::ConsoleOutput out_;
  v1::ConsoleChunk to_node_, from_node_;
  Clock::time_point opened_at_;
  Clock::time_point client_write_since_{}, node_write_since_{};
  std::optional<grpc::Status> pending_finish_;
  std::optional<grpc::Status> reason_;  // Why the session was ended from here.
  bool first_ = true;
  bool client_writing_ = false;
  bool finished_ = false;
  bool server_done_ = false;
  bool node_started_ = false;
  bool node_released_ = false;
  bool node_done_ = false;
  bool attached_ = false;
};

ConsoleRelay::ConsoleRelay(ConsoleResolver resolve, ConsoleRelayLimits limits)
    : resolve_(std::move(resolve)), limits_(limits) {
  watchdog_ = std::thread([this] { watch(); });
}

ConsoleRelay::~ConsoleRelay() {
  shutdown();
  {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, std::chrono::seconds(5), [&] { return sessions_.empty(); });
  }
  if (watchdog_.joinable()) watchdog_.join();
}

grpc::ServerBidiReactor<v1::ConsoleInput, v1::ConsoleOutput> *ConsoleRelay::open(
    grpc::CallbackServerContext *context) {
  auto session = std::make_shared<Session>(*this, context);
  grpc::Status refusal;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      refusal = grpc::Status(grpc::StatusCode::UNAVAILABLE, "the controller is shutting down");
    } else if (sessions_.size() >= limits_.max_sessions) {
      refusal = grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                             "too many console sessions (" + std::to_string(limits_.max_sessions) +
                                 "); try again later");
      hal::log("controller")->warn("console: refused a session: {}", refusal.error_message());
    }
    sessions_[session.get()] = session;
  }
  Session *reactor = session.get();
  reactor->start(std::move(session), refusal);
  return reactor;
}

void ConsoleRelay::shutdown() {
  std::vector<std::shared_ptr<Session>> open;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    for (auto &[key, weak] : sessions_)
      if (auto session = weak.lock()) open.push_back(std::move(session));
  }
  changed_.notify_all();
  for (auto &session : open) session->stop();
}

std::size_t ConsoleRelay::sessions() const {
  std::lock_guard lock(mutex_);
  return sessions_.size();
}

void ConsoleRelay::forget(const Session *session) {
  {
    std::lock_guard lock(mutex_);
    sessions_.erase(session);
  }
  changed_.notify_all();
}

void ConsoleRelay::watch() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    changed_.wait_for(lock, limits_.tick);
    if (stopping_) break;
    std::vector<std::shared_ptr<Session>> open;
    for (auto &[key, weak] : sessions_)
      if (auto session = weak.lock()) open.push_back(std::move(session));
    lock.unlock();
    const auto now = Clock::now();
    for (auto &session : open) session->check(now);
    open.clear();  // May destroy sessions, which forget() themselves under mutex_.
    lock.lock();
  }
}

}  // namespace hal::controller
