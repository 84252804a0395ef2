// supervised_process.cc - spawning, adopting and watching a process through a pidfd (see
// supervised_process.h).
#include "backends/common/supervised_process.h"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <system_error>

#include "backends/common/pidfd.h"
#include "backends/common/spawn.h"
#include "backends/common/state_files.h"

namespace hal::backend_common {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

// What the watcher thread shares with the object: the descriptors (closed when the last owner
// lets go), the callback and the exit.
struct SupervisedProcess::Watch {
  int pidfd;
  // Written by the destructor to stop the watcher without killing the process.
  int wake_fd;
  ExitCallback on_exit;
  std::mutex mutex;
  std::condition_variable exited_cv;
  bool exited = false;
  ExitInfo info;

  Watch(int pidfd_in, int wake_fd_in, ExitCallback on_exit_in)
      : pidfd(pidfd_in), wake_fd(wake_fd_in), on_exit(std::move(on_exit_in)) {}
  ~Watch() {
    ::close(wake_fd);
    ::close(pidfd);
  }
  Watch(const Watch &) = delete;
  Watch &operator=(const Watch &) = delete;

  // The watcher thread: waits for the exit or the wake-up, reaps, calls back, records the exit.
  static void run(const std::shared_ptr<Watch> &watch) {
    pollfd fds[2] = {{watch->pidfd, POLLIN, 0}, {watch->wake_fd, POLLIN, 0}};
    for (;;) {
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (fds[1].revents != 0) return;  // stop watching, leave the process alone
      if (fds[0].revents != 0) break;
    }
    ExitInfo info;
    if (std::optional<int> status = reap_pidfd(watch->pidfd)) {
      info.status_known = true;
      info.wait_status = *status;
    }
    // The callback runs first, so wait_exit() returning means the owner has seen the exit.
    if (watch->on_exit) watch->on_exit(info);
    {
      std::lock_guard<std::mutex> lock(watch->mutex);
      watch->exited = true;
      watch->info = info;
    }
    watch->exited_cv.notify_all();
  }
};

std::unique_ptr<SupervisedProcess> SupervisedProcess::spawn(const std::vector<std::string> &argv,
                                                            const fs::path &log,
                                                            const fs::path &pidfile,
                                                            ExitCallback on_exit,
                                                            const fs::path &cwd) {
  const pid_t pid = spawn_process(argv, log, cwd);
  // Kills and reaps the child when it cannot be watched: nobody would ever stop or reap it.
  auto abandon = [pid] {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  };
  const int pidfd = open_pidfd(pid);
  if (pidfd < 0) {
    const int error = errno;
    abandon();
    throw std::system_error(error, std::generic_category(), "pidfd_open");
  }
  try {
    write_pid_file(pidfile, pid);
  } catch (...) {
    abandon();
    ::close(pidfd);
    throw;
  }
  try {
    return std::unique_ptr<SupervisedProcess>(
        new SupervisedProcess(pid, pidfd, std::move(on_exit)));
  } catch (...) {
    abandon();
    std::error_code ec;
    fs::remove(pidfile, ec);
    throw;
  }
}

std::unique_ptr<SupervisedProcess> SupervisedProcess::adopt(pid_t pid, ExitCallback on_exit) {
  const int pidfd = open_pidfd(pid);
  if (pidfd < 0) {
    throw std::system_error(errno, std::generic_category(), "pidfd_open " + std::to_string(pid));
  }
  return std::unique_ptr<SupervisedProcess>(new SupervisedProcess(pid, pidfd, std::move(on_exit)));
}

// Takes ownership of `pidfd`: closes it when it throws.
SupervisedProcess::SupervisedProcess(pid_t pid, int pidfd, ExitCallback on_exit) : pid_(pid) {
  const int wake_fd = ::eventfd(0, EFD_CLOEXEC);
  if (wake_fd < 0) {
    const int error = errno;
    ::close(pidfd);
    throw std::system_error(error, std::generic_category(), "eventfd");
  }
  watch_ = std::make_shared<Watch>(pidfd, wake_fd, std::move(on_exit));
  watcher_ = std::thread([watch = watch_] { Watch::run(watch); });
}

SupervisedProcess::~SupervisedProcess() {
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(watch_->wake_fd, &one, sizeof one);
  if (watcher_.get_id() == std::this_thread::get_id()) {
    // Destroyed from its own exit callback: the thread finishes on the shared Watch alone.
    watcher_.detach();
  } else {
    watcher_.join();
  }
}

bool SupervisedProcess::exited() const {
  std::lock_guard<std::mutex> lock(watch_->mutex);
  return watch_->exited;
}

bool SupervisedProcess::wait_exit(std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(watch_->mutex);
  return watch_->exited_cv.wait_for(lock, timeout, [this] { return watch_->exited; });
}

ExitInfo SupervisedProcess::exit_info() const {
  std::lock_guard<std::mutex> lock(watch_->mutex);
  return watch_->info;
}

void SupervisedProcess::send_signal(int signal) const {
  if (exited()) return;
  signal_pidfd(watch_->pidfd, signal);
}

PathWait SupervisedProcess::wait_for_path(const fs::path &path,
                                          std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::error_code ec;
  for (;;) {
    if (fs::exists(path, ec)) return PathWait::kAppeared;
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return exited() ? PathWait::kExited : PathWait::kTimedOut;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    if (wait_exit(std::min<std::chrono::milliseconds>(2ms, left + 1ms))) {
      return fs::exists(path, ec) ? PathWait::kAppeared : PathWait::kExited;
    }
  }
}

bool SupervisedProcess::kill_after(std::chrono::milliseconds grace) const {
  if (wait_exit(grace)) return true;
  send_signal(SIGKILL);
  return wait_exit(30s);
}

}  // namespace hal::backend_common
