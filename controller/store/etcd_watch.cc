// etcd_watch.cc - a Store watch over one etcd Watch stream, reopened on failure (see
// etcd_watch.h).
#include "controller/store/etcd_watch.h"

#include "core/log/log.h"

namespace hal::controller::etcd {
namespace {

using Clock = std::chrono::steady_clock;

// The store event of etcd event `event`, nullopt for a key that is not an object of ours.
std::optional<WatchEvent> to_store_event(const std::string &prefix,
                                         const etcdserverpb::Event &event) {
  const auto &kv = event.kv();
  auto key = decode_key(prefix, kv.key());
  if (!key) return std::nullopt;
  WatchEvent out;
  out.revision = store_revision(kv.mod_revision());
  if (event.type() == etcdserverpb::Event::PUT) {
    out.type = kv.version() == 1 ? WatchType::kAdded : WatchType::kModified;
    out.object = decode_object(prefix, kv);
  } else {
    out.type = WatchType::kDeleted;
    if (event.has_prev_kv() && event.prev_kv().create_revision() > 0) {
      out.object = decode_object(prefix, event.prev_kv());
    } else {
      out.object.key = std::move(*key);  // its value was compacted away before we saw it
      out.object.object = nlohmann::json::object();
    }
  }
  return out;
}

}  // namespace

EtcdWatch::EtcdWatch(std::shared_ptr<Client> client, std::string prefix, WatchFilter filter,
                     KeyRange range, int64_t start_revision,
                     std::vector<std::shared_ptr<const WatchEvent>> initial,
                     std::shared_ptr<WatchSet> set)
    : client_(std::move(client)),
      prefix_(std::move(prefix)),
      filter_(std::move(filter)),
      range_(std::move(range)),
      set_(std::move(set)),
      queue_(initial.begin(), initial.end()),
      next_revision_(start_revision) {
  {
    std::lock_guard lock(set_->mutex);
    set_->live.insert(this);
    if (set_->closed) stopping_ = closed_ = true;
  }
  thread_ = std::thread([this] { run(); });
}

EtcdWatch::~EtcdWatch() {
  {
    std::lock_guard lock(set_->mutex);
    set_->live.erase(this);
  }
  cancel();
  thread_.join();
}

std::shared_ptr<const WatchEvent> EtcdWatch::next(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  cv_.wait_for(lock, timeout, [&] { return closed_ || !queue_.empty(); });
  if (queue_.empty()) return nullptr;
  auto event = std::move(queue_.front());
  queue_.pop_front();
  return event;
}

void EtcdWatch::cancel() {
  std::lock_guard lock(mutex_);
  stopping_ = closed_ = true;
  if (context_ != nullptr) context_->TryCancel();
  cv_.notify_all();
}

void EtcdWatch::close() {
  std::lock_guard lock(mutex_);
  closed_ = true;
  cv_.notify_all();
}

size_t EtcdWatch::pending() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

bool EtcdWatch::closed() const {
  std::lock_guard lock(mutex_);
  return closed_ && queue_.empty();
}

int64_t EtcdWatch::next_revision() const {
  std::lock_guard lock(mutex_);
  return next_revision_;
}

int EtcdWatch::reconnects() const {
  std::lock_guard lock(mutex_);
  return reconnects_;
}

void EtcdWatch::run() {
  auto backoff = std::chrono::milliseconds(100);
  auto last_stream = Clock::now();  // when a stream last worked (or the watch started)
  for (bool first = true;; first = false) {
    {
      std::unique_lock lock(mutex_);
      if (!first) {
        // Wait before opening the stream again, unless cancelled meanwhile.
        cv_.wait_for(lock, backoff, [&] { return stopping_; });
        ++reconnects_;
      }
      if (stopping_) return;
    }
    if (Clock::now() - last_stream > client_->options().retry_budget) {
      hal::log("store")->warn("etcd watch: no member answered for {} ms; closing the watch",
                              client_->options().retry_budget.count());
      close();
      return;
    }
    std::string endpoint;
    std::shared_ptr<grpc::Channel> channel;
    try {
      channel = client_->connected_channel(std::chrono::seconds(1), &endpoint);
    } catch (const StoreError &) {
      continue;  // no member reachable yet
    }
    bool answered = false;
    if (!read_stream(channel, endpoint, &answered)) return;
    client_->failed(channel);
    if (answered) {
      backoff = std::chrono::milliseconds(100);  // it worked for a while
      last_stream = Clock::now();
    } else {
      backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
    }
  }
}

bool EtcdWatch::read_stream(const std::shared_ptr<grpc::Channel> &channel,
                            const std::string &endpoint, bool *answered) {
  grpc::ClientContext context;
  etcdserverpb::WatchRequest request;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return false;
    context_ = &context;
    auto *create = request.mutable_create_request();
    create->set_key(range_.key);
    create->set_range_end(range_.end);
    create->set_start_revision(next_revision_);
    create->set_prev_kv(true);
    create->set_progress_notify(true);
  }
  auto stub = etcdserverpb::Watch::NewStub(channel);
  auto stream = stub->Watch(&context);
  bool over = false;  // the watch cannot go on: cancelled, compacted, refused
  if (stream->Write(request)) {
    etcdserverpb::WatchResponse response;
    while (stream->Read(&response)) {
      *answered = true;
      if (response.canceled()) {
        over = true;
        if (response.compact_revision() > 0) {
          hal::log("store")->warn(
              "etcd watch at {}: revision {} was compacted (oldest kept {}); closing the watch",
              endpoint, next_revision(), response.compact_revision());
        } else {
          hal::log("store")->warn("etcd watch at {} cancelled: {}", endpoint,
                                  response.cancel_reason());
        }
        break;
      }
      try {
        deliver(response);
      } catch (const StoreError &e) {
        hal::log("store")->error("etcd watch at {}: {}; closing the watch", endpoint, e.what());
        over = true;
        break;
      }
    }
  }
  if (over) context.TryCancel();  // the stream is still open: end it so that Finish() returns
  grpc::Status status = stream->Finish();
  {
    std::lock_guard lock(mutex_);
    context_ = nullptr;
    if (stopping_) return false;
  }
  if (over) {
    close();
    return false;
  }
  hal::log("store")->info("etcd watch at {} broke ({}); resuming at revision {}", endpoint,
                          status.error_message(), store_revision(next_revision()));
  return true;
}

void EtcdWatch::deliver(const etcdserverpb::WatchResponse &response) {
  if (response.created()) return;
  std::vector<std::shared_ptr<const WatchEvent>> events;
  for (const auto &event : response.events()) {
    auto converted = to_store_event(prefix_, event);
    if (!converted || !filter_.matches(converted->object.key)) continue;
    events.push_back(std::make_shared<const WatchEvent>(std::move(*converted)));
  }
  std::lock_guard lock(mutex_);
  if (response.events_size() > 0) {
    // A response holds whole revisions: resume after its last.
    next_revision_ = response.events(response.events_size() - 1).kv().mod_revision() + 1;
  } else if (response.header().revision() > 0) {
    // Progress: every change up to the header's revision was sent.
    next_revision_ = std::max(next_revision_, response.header().revision() + 1);
  }
  if (closed_) return;
  for (auto &event : events) {
    if (queue_.size() >= kMaxQueued) {
      closed_ = true;  // overflow: the consumer must list and watch again
      break;
    }
    queue_.push_back(std::move(event));
  }
  cv_.notify_all();
}

}  // namespace hal::controller::etcd
