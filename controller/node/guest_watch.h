// guest_watch.h - tells when a guest that booted on this node never came up: a VM still running
// a set time after it started, whose serial console has had no output since, is reported once
// as silent; output that comes later is reported too. Only VMs whose backend counts console
// output (vm-info console.outputBytes, e.g. kvm-qemu) are judged; a VM that arrived by live
// migration or was re-adopted did not boot here and is not watched.
#ifndef HAL_CONTROLLER_NODE_GUEST_WATCH_H
#define HAL_CONTROLLER_NODE_GUEST_WATCH_H

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

namespace hal::node {

/** Watches booting guests' console output on one thread. Thread-safe. */
class GuestWatch {
 public:
  /** What the backend says of a VM now. */
  struct Probe {
    /** Its state name ("Running", "Paused", ...; "" when the VM is gone). */
    std::string state;
    /** Console output since it started; nullopt when the backend does not count it. */
    std::optional<uint64_t> output_bytes;
  };
  /** Reads a VM's state and console output (called on the watch's thread, never under its lock). */
  using ProbeFn = std::function<Probe(const std::string &vm_id)>;
  /** Reports a guest as silent (true: no output `silent_for` after it started) or as having
   *  produced output after it was reported silent (false). */
  using ReportFn = std::function<void(const std::string &vm_id, bool silent,
                                      std::chrono::milliseconds silent_for)>;

  /** A watch that judges a guest `timeout` after it started (must be > 0) and, once it was
   *  reported silent, looks again every `recheck` until output comes or it stops running. */
  GuestWatch(std::chrono::milliseconds timeout, std::chrono::milliseconds recheck, ProbeFn probe,
             ReportFn report);
  /** Stops the thread. */
  ~GuestWatch();
  GuestWatch(const GuestWatch &) = delete;
  GuestWatch &operator=(const GuestWatch &) = delete;

  /** A VM's new state from a state-changed event ("" when it was deleted), from backend
   *  `backend`. Running after Stopped, Starting, Crashed or an unseen VM starts the watch, unless
   *  the backend was seen not to count console output; any state but Running or Paused ends it. */
  void observe(const std::string &vm_id, const std::string &state, const std::string &backend);

  /** VMs being watched now. */
  std::size_t watched() const;

 private:
  struct Watched {
    std::string backend;
    std::chrono::steady_clock::time_point started;
    std::chrono::steady_clock::time_point next_look;
    bool reported_silent = false;
  };
  void run();
  // Looks at one VM whose time came; returns false when the watch on it ends.
  bool look(const std::string &vm_id, Watched &watched);

  const std::chrono::milliseconds timeout_;
  const std::chrono::milliseconds recheck_;
  const ProbeFn probe_;
  const ReportFn report_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::string> last_state_;
  std::map<std::string, Watched> watched_;
  std::set<std::string> uncounted_backends_;  // backends whose vm-info has no outputBytes
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace hal::node

#endif  // HAL_CONTROLLER_NODE_GUEST_WATCH_H
