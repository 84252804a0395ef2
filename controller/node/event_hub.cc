// event_hub.cc - sequencing, replay ring and non-blocking fan-out of node events.
#include "controller/node/event_hub.h"

#include <algorithm>
#include <string>

#include "hal/host.hpp"

namespace hal::node {

std::optional<v1::NodeEvent> EventHub::Reader::next(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return !queue_.empty() || dropped_ || closed_; });
  if (dropped_ || queue_.empty()) return std::nullopt;
  v1::NodeEvent event = std::move(queue_.front());
  queue_.pop_front();
  return event;
}

bool EventHub::Reader::pending() const {
  std::lock_guard lock(mu_);
  return !queue_.empty() && !dropped_;
}

bool EventHub::Reader::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

bool EventHub::Reader::closed() const {
  std::lock_guard lock(mu_);
  return closed_;
}

bool EventHub::Reader::offer(const v1::NodeEvent &event) {
  {
    std::lock_guard lock(mu_);
    if (dropped_ || closed_) return !dropped_;
    if (queue_.size() >= capacity_) {
      dropped_ = true;
      queue_.clear();
    } else {
      queue_.push_back(event);
    }
  }
  cv_.notify_all();
  return !dropped();
}

void EventHub::Reader::close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

EventHub::EventHub(std::size_t replay_capacity, std::size_t queue_capacity)
    : replay_capacity_(std::max<std::size_t>(replay_capacity, 1)),
      queue_capacity_(std::max<std::size_t>(queue_capacity, 1)) {}

uint64_t EventHub::publish(v1::NodeEvent event) {
  std::lock_guard lock(mu_);
  event.set_sequence(++sequence_);
  ring_.push_back(event);
  if (ring_.size() > replay_capacity_) ring_.pop_front();
  auto kept = std::remove_if(readers_.begin(), readers_.end(), [&](const auto &reader) {
    if (reader->offer(event)) return false;
    ++dropped_;
    return true;
  });
  readers_.erase(kept, readers_.end());
  return sequence_;
}

std::shared_ptr<EventHub::Reader> EventHub::subscribe(uint64_t since_sequence) {
  std::lock_guard lock(mu_);
  if (closed_) throw Error(HAL_UNAVAILABLE, "node agent is stopping");
  std::vector<const v1::NodeEvent *> replay;
  if (since_sequence > 0 && since_sequence < sequence_) {
    uint64_t oldest = ring_.empty() ? sequence_ + 1 : ring_.front().sequence();
    if (since_sequence + 1 < oldest)
      throw Error(HAL_OUT_OF_RANGE,
                  "since_sequence: events after " + std::to_string(since_sequence) +
                      " are no longer buffered (oldest kept is " + std::to_string(oldest) +
                      "); list the VMs again and watch from 0");
    for (const v1::NodeEvent &event : ring_)
      if (event.sequence() > since_sequence) replay.push_back(&event);
  }
  auto reader = std::make_shared<Reader>(std::max(queue_capacity_, replay.size() + 1));
  for (const v1::NodeEvent *event : replay) reader->offer(*event);
  readers_.push_back(reader);
  return reader;
}

void EventHub::unsubscribe(const std::shared_ptr<Reader> &reader) {
  std::lock_guard lock(mu_);
  readers_.erase(std::remove(readers_.begin(), readers_.end(), reader), readers_.end());
}

void EventHub::close() {
  std::vector<std::shared_ptr<Reader>> readers;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    readers.swap(readers_);
  }
  for (const auto &reader : readers) reader->close();
}

uint64_t EventHub::last_sequence() const {
  std::lock_guard lock(mu_);
  return sequence_;
}

std::size_t EventHub::reader_count() const {
  std::lock_guard lock(mu_);
  return readers_.size();
}

uint64_t EventHub::dropped_count() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

}  // namespace hal::node
