// event_poller.h - one thread and one gRPC completion queue that drive the asynchronous calls
// of many node connections (their WatchEvents streams), so that 100 nodes' streams do not hold
// 100 threads. Each operation's tag is an EventPoller::Tag, whose handler runs on that thread.
#ifndef HAL_CONTROLLER_SERVER_EVENT_POLLER_H
#define HAL_CONTROLLER_SERVER_EVENT_POLLER_H

#include <grpcpp/grpcpp.h>

#include <functional>
#include <thread>

namespace hal::controller {

/** A completion queue and the thread that runs the handlers of its tags. */
class EventPoller {
 public:
  /** A completion tag: `handler(ok)` runs on the poller's thread when its operation ends. */
  struct Tag {
    std::function<void(bool ok)> handler;  ///< What to do when the operation completes.
  };

  /** Starts the thread. */
  EventPoller();
  /** Shuts the queue down and joins the thread: every operation must have completed (each
   *  connection stops its stream first). Must not run on the poller's own thread. */
  ~EventPoller();
  EventPoller(const EventPoller &) = delete;
  EventPoller &operator=(const EventPoller &) = delete;

  /** The queue to start operations on, with a Tag* as their tag. */
  grpc::CompletionQueue *queue() { return &queue_; }

 private:
  grpc::CompletionQueue queue_;
  std::thread thread_;
};

}  // namespace hal::controller

#endif  // HAL_CONTROLLER_SERVER_EVENT_POLLER_H
