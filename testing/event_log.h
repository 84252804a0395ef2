// event_log.h - records the events a backend instance delivers, thread-safely, and lets a test
// wait for the one it expects. Feeds from a hal::Backend subscription or, for tests driving a
// plugin's raw C table, from the hal_event_fn registered at open.
#ifndef HAL_TESTING_EVENT_LOG_H
#define HAL_TESTING_EVENT_LOG_H

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/plugin/backend.h"
#include "hal/hal.h"

namespace hal::testing {

/** Every event of one backend instance, in delivery order. */
class EventLog {
 public:
  /** A log fed through callback() (pass `&EventLog::callback, &log` to a table's open). */
  EventLog() = default;
  /** A log subscribed to `backend`, which must outlive it or be closed first. */
  explicit EventLog(Backend &backend);
  /** Unsubscribes (delivering what is still queued first) when subscribed. */
  ~EventLog();
  EventLog(const EventLog &) = delete;
  EventLog &operator=(const EventLog &) = delete;

  /** The hal_event_fn to register at open; `log` is the EventLog. */
  static void callback(void *log, const hal_event *event);
  /** Appends `event` and wakes the waiters. */
  void record(Event event);

  /** Every event recorded so far for `vm_id` ("" = all). */
  std::vector<Event> events(const std::string &vm_id = "") const;
  /** The states of the STATE_CHANGED events of `vm_id`, in order. */
  std::vector<hal_vm_state> states(const std::string &vm_id) const;
  /** Number of events recorded for `vm_id` ("" = all). */
  size_t count(const std::string &vm_id = "") const;
  /** Waits until an event at index `from` or later matches `pred`; returns the first such
   *  event, or nullopt when `timeout` passed first. */
  std::optional<Event> wait_for(const std::function<bool(const Event &)> &pred,
                                std::chrono::milliseconds timeout, size_t from = 0);
  /** Waits until `pred` holds for the whole list; false when `timeout` passed first. */
  bool wait_until(const std::function<bool(const std::vector<Event> &)> &pred,
                  std::chrono::milliseconds timeout);
  /** Waits for a STATE_CHANGED event of `vm_id` to `state`. */
  bool wait_state_event(const std::string &vm_id, hal_vm_state state,
                        std::chrono::milliseconds timeout);
  /** Forgets everything recorded so far. */
  void clear();
  /** A readable list of the events of `vm_id` ("" = all), for failure messages. */
  std::string describe(const std::string &vm_id = "") const;

 private:
  Backend *backend_ = nullptr;
  Backend::SubscriptionId subscription_ = 0;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<Event> events_;
};

}  // namespace hal::testing

#endif  // HAL_TESTING_EVENT_LOG_H
