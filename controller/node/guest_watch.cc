// guest_watch.cc - GuestWatch: one thread sleeping until the next VM's time to be looked at
// (see guest_watch.h).
#include "controller/node/guest_watch.h"

#include <algorithm>
#include <stdexcept>

namespace hal::node {

using Clock = std::chrono::steady_clock;

GuestWatch::GuestWatch(std::chrono::milliseconds timeout, std::chrono::milliseconds recheck,
                       ProbeFn probe, ReportFn report)
    : timeout_(timeout),
      recheck_(std::max(recheck, std::chrono::milliseconds(1))),
      probe_(std::move(probe)),
      report_(std::move(report)) {
  if (timeout_.count() <= 0) throw std::invalid_argument("GuestWatch: timeout must be > 0");
  thread_ = std::thread([this] { run(); });
}

GuestWatch::~GuestWatch() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void GuestWatch::observe(const std::string &vm_id, const std::string &state,
                         const std::string &backend) {
  std::lock_guard lock(mu_);
  if (state.empty() || uncounted_backends_.count(backend)) {
    last_state_.erase(vm_id);
    watched_.erase(vm_id);
    return;
  }
  auto [last, unseen] = last_state_.try_emplace(vm_id, state);
  const std::string previous = unseen ? "" : last->second;
  last->second = state;
  if (state == "Running") {
    const bool booted = previous.empty() || previous == "Stopped" || previous == "Starting" ||
                        previous == "Crashed";
    if (!booted) return;
    const auto now = Clock::now();
    watched_[vm_id] = Watched{backend, now, now + timeout_, false};
    cv_.notify_all();
  } else if (state != "Paused") {
    watched_.erase(vm_id);
  }
}

std::size_t GuestWatch::watched() const {
  std::lock_guard lock(mu_);
  return watched_.size();
}

bool GuestWatch::look(const std::string &vm_id, Watched &watched) {
  const Probe probe = probe_(vm_id);
  if (probe.state.empty()) return false;
  if (!probe.output_bytes) {
    std::lock_guard lock(mu_);
    uncounted_backends_.insert(watched.backend);
    return false;
  }
  const auto now = Clock::now();
  if (*probe.output_bytes > 0) {
    if (watched.reported_silent) report_(vm_id, false, {});
    return false;
  }
  if (probe.state == "Running" && !watched.reported_silent) {
    report_(vm_id, true,
            std::chrono::duration_cast<std::chrono::milliseconds>(now - watched.started));
    watched.reported_silent = true;
  } else if (probe.state != "Running" && probe.state != "Paused") {
    return false;
  }
  watched.next_look = now + recheck_;
  return true;
}

void GuestWatch::run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    auto due = std::min_element(watched_.begin(), watched_.end(), [](const auto &a, const auto &b) {
      return a.second.next_look < b.second.next_look;
    });
    if (due == watched_.end()) {
      cv_.wait(lock);
      continue;
    }
    // A copy: wait_until reads its deadline again after waking, when the entry may be gone.
    const Clock::time_point next_look = due->second.next_look;
    if (Clock::now() < next_look) {
      cv_.wait_until(lock, next_look);
      continue;
    }
    const std::string vm_id = due->first;
    Watched watched = due->second;
    lock.unlock();
    bool keep = false;
    try {
      keep = look(vm_id, watched);
    } catch (const std::exception &) {
      keep = false;  // the VM went away or its backend failed: nothing to judge
    }
    lock.lock();
    // The VM may have changed (stopped, restarted) while it was looked at: keep what changed.
    auto current = watched_.find(vm_id);
    if (current == watched_.end() || current->second.started != watched.started) continue;
    if (keep) {
      current->second = watched;
    } else {
      watched_.erase(current);
    }
  }
}

}  // namespace hal::node
