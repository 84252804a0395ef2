// spawn.cc - fork and exec of a hypervisor process with no_new_privs (see spawn.h). posix_spawn
// cannot set PR_SET_NO_NEW_PRIVS, so the child is made by fork() and runs only async-signal-safe
// system calls before execve; an exec failure comes back through a close-on-exec pipe.
#include "backends/common/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>
#include <system_error>

#include "backends/common/resolve_binary.h"

extern char **environ;

namespace hal::backend_common {

namespace {

// An fd closed on every path out of the parent.
struct OwnedFd {
  int fd = -1;
  explicit OwnedFd(int value) : fd(value) {}
  ~OwnedFd() {
    if (fd >= 0) ::close(fd);
  }
  OwnedFd(const OwnedFd &) = delete;
  OwnedFd &operator=(const OwnedFd &) = delete;
};

// In the child: reports errno on `report` and exits. Async-signal-safe.
[[noreturn]] void child_fail(int report) {
  const int error = errno;
  [[maybe_unused]] ssize_t written = ::write(report, &error, sizeof error);
  ::_exit(127);
}

// In the child, between fork and execve: only async-signal-safe calls.
[[noreturn]] void child_exec(const char *path, char *const *args, int null_fd, int log_fd,
                             int report, const char *cwd) {
  ::setpgid(0, 0);
  if (cwd != nullptr && ::chdir(cwd) != 0) child_fail(report);
  ::umask(077);  // the sockets, logs and files the hypervisor creates are owner-only
  struct sigaction defaults {};
  defaults.sa_handler = SIG_DFL;
  for (int sig : kResetSignals) ::sigaction(sig, &defaults, nullptr);
  sigset_t empty;
  sigemptyset(&empty);
  ::sigprocmask(SIG_SETMASK, &empty, nullptr);
  if (::dup2(null_fd, 0) < 0 || ::dup2(log_fd, 1) < 0 || ::dup2(log_fd, 2) < 0) child_fail(report);
  // Neither the hypervisor nor anything it runs gains privileges through execve (setuid bits,
  // file capabilities).
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) child_fail(report);
  ::execve(path, args, environ);
  child_fail(report);
}

}  // namespace

pid_t spawn_process(const std::vector<std::string> &argv, const std::filesystem::path &log,
                    const std::filesystem::path &cwd) {
  if (argv.empty()) throw std::invalid_argument("spawn: empty argv");
  // The PATH search happens here: execvp is not async-signal-safe.
  const std::string path = resolve_binary(argv[0]);
  if (path.empty()) throw std::system_error(ENOENT, std::generic_category(), "spawn " + argv[0]);
  std::vector<char *> args;
  args.reserve(argv.size() + 1);
  for (const std::string &arg : argv) args.push_back(const_cast<char *>(arg.c_str()));
  args.push_back(nullptr);

  OwnedFd null_fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (null_fd.fd < 0) throw std::system_error(errno, std::generic_category(), "open /dev/null");
  OwnedFd log_fd(::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (log_fd.fd < 0)
    throw std::system_error(errno, std::generic_category(),
                            "spawn " + argv[0] + ": open " + log.string());
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0)
    throw std::system_error(errno, std::generic_category(), "spawn: pipe2");
  OwnedFd report_read(pipe_fds[0]);
  OwnedFd report_write(pipe_fds[1]);

  const pid_t pid = ::fork();
  if (pid < 0) throw std::system_error(errno, std::generic_category(), "spawn: fork");
  if (pid == 0) {
    child_exec(path.c_str(), args.data(), null_fd.fd, log_fd.fd, report_write.fd,
               cwd.empty() ? nullptr : cwd.c_str());
  }
  ::setpgid(pid, pid);  // also in the parent, so the group exists before we return
  ::close(report_write.fd);
  report_write.fd = -1;
  int error = 0;
  ssize_t got;
  do {
    got = ::read(report_read.fd, &error, sizeof error);
  } while (got < 0 && errno == EINTR);
  if (got == static_cast<ssize_t>(sizeof error)) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    throw std::system_error(error, std::generic_category(), "spawn " + argv[0]);
  }
  return pid;
}

}  // namespace hal::backend_common
