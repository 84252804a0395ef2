// etcd_watch.h - a Store watch over etcd's Watch API: one bidirectional stream per watch, read by
// its own thread into a queue that next() pulls from. When the stream breaks (a member died, a
// connection reset) the thread opens it again on the next member from the revision after the
// last one it delivered, so nothing is lost or repeated; progress notifications move that
// revision on while nothing matches. A start revision etcd has compacted meanwhile closes the
// watch (the consumer lists and watches again, as after an overflow).
#ifndef HAL_CONTROLLER_STORE_ETCD_WATCH_H
#define HAL_CONTROLLER_STORE_ETCD_WATCH_H

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "controller/store/etcd_client.h"
#include "controller/store/etcd_layout.h"

namespace hal::controller::etcd {

class EtcdWatch;

/** The watches of one store, closed together when the store goes. */
struct WatchSet {
  std::mutex mutex;            ///< Guards the fields below.
  std::set<EtcdWatch *> live;  ///< Watches not yet destroyed.
  bool closed = false;         ///< The store is gone: no new watch runs.
};

/** One watch of the etcd store. */
class EtcdWatch : public Watch {
 public:
  /** Watches `range` (events then filtered by `filter`) from etcd revision `start_revision`,
   *  after delivering `initial` (the synthetic ADDED events of a watch from 0). Starts its
   *  thread; registers in `set`. */
  EtcdWatch(std::shared_ptr<Client> client, std::string prefix, WatchFilter filter, KeyRange range,
            int64_t start_revision, std::vector<std::shared_ptr<const WatchEvent>> initial,
            std::shared_ptr<WatchSet> set);
  ~EtcdWatch() override;
  EtcdWatch(const EtcdWatch &) = delete;
  EtcdWatch &operator=(const EtcdWatch &) = delete;

  std::shared_ptr<const WatchEvent> next(std::chrono::milliseconds timeout) override;
  void cancel() override;
  size_t pending() const override;
  bool closed() const override;

  /** The etcd revision the next stream starts from (the last delivered one plus one). */
  int64_t next_revision() const;

  /** How many times the stream was opened again after it broke. */
  int reconnects() const;

 private:
  void run();
  // Reads one stream until it ends; false when the watch is over (cancelled, compacted).
  // `answered`: the member answered at least once (the stream was up).
  bool read_stream(const std::shared_ptr<grpc::Channel> &channel, const std::string &endpoint,
                   bool *answered);
  void deliver(const etcdserverpb::WatchResponse &response);
  void close();

  static constexpr size_t kMaxQueued = 1000000;
  std::shared_ptr<Client> client_;
  std::string prefix_;
  WatchFilter filter_;
  KeyRange range_;
  std::shared_ptr<WatchSet> set_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<const WatchEvent>> queue_;
  int64_t next_revision_;
  int reconnects_ = 0;
  bool closed_ = false;
  bool stopping_ = false;
  grpc::ClientContext *context_ = nullptr;  ///< The open stream's, to cancel it.
  std::thread thread_;
};

}  // namespace hal::controller::etcd

#endif  // HAL_CONTROLLER_STORE_ETCD_WATCH_H
