// console_watch.h - independent evidence from the guest: one connection to a VM's serial console
// kept open for a whole clause, every line stamped with the host's clock on arrival, and the
// test guest's markers (heartbeat with its boot id and own clock, reboot, powerdown) parsed, so
// clauses compare what the guest did with what the backend claimed.
#ifndef HAL_CONFORMANCE_CONSOLE_WATCH_H
#define HAL_CONFORMANCE_CONSOLE_WATCH_H

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/plugin/backend.h"

namespace hal::conformance {

/** One console line as the suite saw it. */
struct ConsoleLine {
  std::chrono::steady_clock::time_point at;  ///< Host time the line arrived.
  std::string text;                          ///< The line, without the line end.
  /** "heartbeat", "ready", "reboot", "powerdown" for HAL-GUEST markers, else "". */
  std::string marker;
  int64_t heartbeat = -1;       ///< Heartbeat counter (heartbeat lines).
  std::string boot_id;          ///< boot_id= of heartbeat and ready lines.
  int64_t guest_clock_ms = -1;  ///< The guest's own uptime_ms= on heartbeats (-1 = absent).
};

/** A console connection read on a thread of its own until destroyed. */
class ConsoleWatch {
 public:
  /** Connects to the console of `vm` (a unix socket, when the backend declares features.console
   *  and answers vm_get_console); nullptr when there is none. */
  static std::unique_ptr<ConsoleWatch> attach(const Vm &vm);
  /** Connects to the unix socket at `path`; nullptr when the connection fails. */
  static std::unique_ptr<ConsoleWatch> connect(const std::string &path);
  ~ConsoleWatch();
  ConsoleWatch(const ConsoleWatch &) = delete;
  ConsoleWatch &operator=(const ConsoleWatch &) = delete;

  /** Waits until a line from index `from` on satisfies `match` or `timeout` passes; answers it. */
  std::optional<ConsoleLine> wait_for(const std::function<bool(const ConsoleLine &)> &match,
                                      std::chrono::milliseconds timeout, size_t from = 0);
  /** The next heartbeat at or after index `from` (within `timeout`). */
  std::optional<ConsoleLine> next_heartbeat(std::chrono::milliseconds timeout, size_t from = 0);
  /** The number of lines seen so far (an index for wait_for's `from`). */
  size_t size() const;
  /** A copy of the lines from index `from` on. */
  std::vector<ConsoleLine> lines(size_t from = 0) const;
  /** The last `n` lines as text, for failure messages. */
  std::string tail(size_t n = 8) const;

 private:
  explicit ConsoleWatch(int fd);
  void read_loop();

  int fd_;
  int wake_[2] = {-1, -1};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<ConsoleLine> lines_;
  std::thread reader_;
};

/** What the guest's own clock says about a stretch of host time between two heartbeats: how much
 *  host time passed, how much the guest saw, and the difference (time the guest was stopped). */
struct GuestClockGap {
  int64_t host_ms = 0;     ///< Host time between the two lines' arrivals.
  int64_t guest_ms = 0;    ///< Guest uptime between the two heartbeats.
  int64_t stopped_ms = 0;  ///< host_ms - guest_ms: how long the guest did not run.
};

/** The clock gap between heartbeats `a` and `b` (both with guest_clock_ms); nullopt otherwise. */
std::optional<GuestClockGap> clock_gap(const ConsoleLine &a, const ConsoleLine &b);

}  // namespace hal::conformance

#endif  // HAL_CONFORMANCE_CONSOLE_WATCH_H
