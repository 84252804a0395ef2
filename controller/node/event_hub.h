// event_hub.h - the node's event fan-out: every backend event gets the next sequence number
// (monotonic per agent start), is kept in a bounded replay ring, and is queued to every
// WatchEvents reader. Publishing never blocks on a reader: a reader whose queue is full is
// dropped (its stream ends with RESOURCE_EXHAUSTED) instead of slowing the backends down.
#ifndef HAL_CONTROLLER_NODE_EVENT_HUB_H
#define HAL_CONTROLLER_NODE_EVENT_HUB_H

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "hal/v1/node.pb.h"

namespace hal::node {

/** Sequences, buffers and fans out node events. Thread-safe. */
class EventHub {
 public:
  /** One subscriber (one WatchEvents stream): a bounded queue filled by publish(). */
  class Reader {
   public:
    /** The next event, waiting up to `timeout`; nullopt on timeout, or once the reader was
     *  dropped or the hub closed (check dropped()/closed()). */
    std::optional<v1::NodeEvent> next(std::chrono::milliseconds timeout);
    /** True when next() would return an event at once. */
    bool pending() const;
    /** True once the reader fell a full queue behind and was dropped. */
    bool dropped() const;
    /** True once the hub was closed (agent stopping). */
    bool closed() const;
    /** Explicit constructor for the hub; use EventHub::subscribe(). */
    explicit Reader(std::size_t capacity) : capacity_(capacity) {}

   private:
    friend class EventHub;
    // Queues `event`; false (and the reader marked dropped) when the queue is full.
    bool offer(const v1::NodeEvent &event);
    void close();

    const std::size_t capacity_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<v1::NodeEvent> queue_;
    bool dropped_ = false;
    bool closed_ = false;
  };

  /** A hub keeping `replay_capacity` events for replay and queueing up to `queue_capacity`
   *  events per reader. */
  EventHub(std::size_t replay_capacity, std::size_t queue_capacity);

  /** Assigns the next sequence number to `event`, buffers it and queues it to every reader
   *  (dropping readers whose queue is full). Returns the sequence number. */
  uint64_t publish(v1::NodeEvent event);

  /** A new reader. With `since_sequence` > 0 the buffered events with a greater sequence are
   *  queued first. Throws hal::Error(HAL_OUT_OF_RANGE) when events after `since_sequence` have
   *  already left the replay buffer (the caller must re-list instead), and
   *  hal::Error(HAL_UNAVAILABLE) once the hub is closed. */
  std::shared_ptr<Reader> subscribe(uint64_t since_sequence);

  /** Removes a reader (a no-op for one already dropped). */
  void unsubscribe(const std::shared_ptr<Reader> &reader);

  /** Closes every reader and refuses new ones. */
  void close();

  /** The sequence of the last published event (0 before the first). */
  uint64_t last_sequence() const;
  /** Readers currently subscribed. */
  std::size_t reader_count() const;
  /** Readers dropped so far for not keeping up. */
  uint64_t dropped_count() const;

 private:
  const std::size_t replay_capacity_;
  const std::size_t queue_capacity_;
  mutable std::mutex mu_;
  uint64_t sequence_ = 0;
  uint64_t dropped_ = 0;
  bool closed_ = false;
  std::deque<v1::NodeEvent> ring_;
  std::vector<std::shared_ptr<Reader>> readers_;
};

}  // namespace hal::node

#endif  // HAL_CONTROLLER_NODE_EVENT_HUB_H
