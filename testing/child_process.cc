// child_process.cc - spawning, waiting for and stopping the programs tests start (see
// child_process.h).
#include "testing/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char **environ;

namespace hal::testing {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// NULL-terminated pointers into `strings` (which must outlive them).
std::vector<char *> c_strings(std::vector<std::string> &strings) {
  std::vector<char *> out;
  for (auto &s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// The child's environment: ours (when `inherit`) with `extra` set over it.
std::vector<std::string> child_environment(const std::map<std::string, std::string> &extra,
                                           bool inherit) {
  std::vector<std::string> env;
  for (char **e = environ; inherit && *e != nullptr; ++e) {
    std::string entry = *e;
    if (extra.count(entry.substr(0, entry.find('='))) == 0) env.push_back(entry);
  }
  for (const auto &[name, value] : extra) env.push_back(name + "=" + value);
  return env;
}

// posix_spawn's file actions and attributes, destroyed on every path out.
struct SpawnSettings {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  SpawnSettings() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
  }
  ~SpawnSettings() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
  SpawnSettings(const SpawnSettings &) = delete;
  SpawnSettings &operator=(const SpawnSettings &) = delete;
};

// Size of `path` now (0 when it does not exist).
std::uintmax_t file_size_or_zero(const fs::path &path) {
  std::error_code ec;
  const std::uintmax_t size = fs::file_size(path, ec);
  return ec ? 0 : size;
}

// Waits up to `timeout` until process `pid` (our child or not) has gone.
bool wait_gone(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD && !process_alive(pid))) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// Waits up to `timeout` until our child `pid` has exited, leaving it a zombie (so its pid, and
// its process group id, cannot be reused yet). True when it has exited.
bool wait_exited_unreaped(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    siginfo_t info{};
    int rc = ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT | WNOHANG);
    if (rc != 0) return errno != EINTR;  // ECHILD: not ours (any more)
    if (info.si_pid == pid) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace

ChildProcess::ChildProcess(std::vector<std::string> argv, ChildOptions options)
    : argv_(std::move(argv)), options_(std::move(options)) {
  if (argv_.empty()) throw std::runtime_error("ChildProcess: empty argv");
  auto args = c_strings(argv_);
  auto env_strings = child_environment(options_.env, options_.inherit_environment);
  auto envp = c_strings(env_strings);
  if (!options_.stdout_file.empty()) output_start_ = file_size_or_zero(options_.stdout_file);
  const int mode = O_WRONLY | O_CREAT | (options_.truncate ? O_TRUNC : O_APPEND);
  SpawnSettings settings;
  posix_spawn_file_actions_addopen(&settings.actions, 0, "/dev/null", O_RDONLY, 0);
  if (!options_.stdout_file.empty()) {
    posix_spawn_file_actions_addopen(&settings.actions, 1, options_.stdout_file.c_str(), mode,
                                     0600);
  }
  if (!options_.stderr_file.empty() && options_.stderr_file != options_.stdout_file) {
    posix_spawn_file_actions_addopen(&settings.actions, 2, options_.stderr_file.c_str(), mode,
                                     0600);
  } else if (!options_.stdout_file.empty()) {
    posix_spawn_file_actions_adddup2(&settings.actions, 1, 2);
  }
  posix_spawnattr_setflags(&settings.attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&settings.attr, 0);
  const bool search_path = argv_[0].find('/') == std::string::npos;
  int rc = (search_path ? ::posix_spawnp : ::posix_spawn)(
      &pid_, argv_[0].c_str(), &settings.actions, &settings.attr, args.data(), envp.data());
  if (rc != 0) throw std::runtime_error("cannot spawn " + argv_[0] + ": " + std::strerror(rc));
}

ChildOptions output_to(const fs::path &log, bool truncate) {
  ChildOptions options;
  options.stdout_file = log;
  options.truncate = truncate;
  return options;
}

ChildProcess::ChildProcess(std::vector<std::string> argv, const fs::path &log_path,
                           std::map<std::string, std::string> env)
    : ChildProcess(std::move(argv), [&] {
        ChildOptions options = output_to(log_path);
        options.env = std::move(env);
        return options;
      }()) {}

ChildProcess::~ChildProcess() {
  if (status_ || pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  if (!wait_exited_unreaped(pid_, std::chrono::seconds(5))) {
    ::kill(pid_, SIGKILL);
    wait_exited_unreaped(pid_, std::chrono::seconds(10));
  }
  // The leader is a zombie now: its group id cannot have been reused by anybody else.
  ::killpg(pid_, SIGKILL);
  reap(true);
}

bool ChildProcess::reap(bool block) {
  if (status_) return true;
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, block ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) status_ = status;
  if (r < 0 && errno == ECHILD) status_ = -1;  // reaped elsewhere (a subreaper's wait)
  return status_.has_value();
}

bool ChildProcess::running() {
  return !reap(false);
}

std::optional<int> ChildProcess::wait(std::chrono::milliseconds timeout) {
  if (status_) return status_;
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
  if (pidfd >= 0) {
    // Readable once the process has exited: no polling delay.
    pollfd fd{pidfd, POLLIN, 0};
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      int rc = ::poll(&fd, 1, static_cast<int>(std::max<int64_t>(0, left.count())));
      if (rc >= 0 || errno != EINTR) break;
    }
    ::close(pidfd);
  }
  reap(false);
  return status_;
}

std::optional<int> ChildProcess::signal_and_wait(int signal, std::chrono::milliseconds timeout) {
  if (status_) return status_;
  ::kill(pid_, signal);
  return wait(timeout);
}

void ChildProcess::kill_hard() {
  if (status_) return;
  ::kill(pid_, SIGKILL);
  reap(true);
}

void ChildProcess::stop(std::chrono::milliseconds grace) {
  if (status_ || pid_ <= 0) return;
  signal_and_wait(SIGTERM, grace);
  kill_hard();
}

std::string ChildProcess::output() const {
  if (options_.stdout_file.empty()) return "";
  std::ifstream in(options_.stdout_file);
  in.seekg(static_cast<std::streamoff>(output_start_));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::optional<std::smatch> ChildProcess::wait_for_output(const std::regex &pattern,
                                                         std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const bool was_running = running();
    last_output_ = output();
    std::smatch match;
    if (std::regex_search(last_output_, match, pattern)) return match;
    if (!was_running || Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

RunResult run_to_completion(const std::vector<std::string> &argv, std::chrono::milliseconds timeout,
                            const std::string &input) {
  if (argv.empty()) throw std::runtime_error("run_to_completion: empty argv");
  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    ::close(in_pipe[0]);
    ::close(in_pipe[1]);
    throw std::runtime_error("pipe failed");
  }
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    for (int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1]}) ::close(fd);
    throw std::runtime_error("pipe failed");
  }
  std::vector<std::string> args = argv;
  auto cargs = c_strings(args);
  pid_t pid = -1;
  int rc;
  {
    SpawnSettings settings;
    posix_spawn_file_actions_adddup2(&settings.actions, in_pipe[0], 0);
    posix_spawn_file_actions_adddup2(&settings.actions, out_pipe[1], 1);
    posix_spawn_file_actions_adddup2(&settings.actions, err_pipe[1], 2);
    const bool search_path = args[0].find('/') == std::string::npos;
    rc = (search_path ? ::posix_spawnp : ::posix_spawn)(&pid, args[0].c_str(), &settings.actions,
                                                        &settings.attr, cargs.data(), environ);
  }
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (rc != 0) {
    ::close(in_pipe[1]);
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    throw std::runtime_error("cannot spawn " + args[0] + ": " + std::strerror(rc));
  }
  if (!input.empty()) {
    [[maybe_unused]] ssize_t written = ::write(in_pipe[1], input.data(), input.size());
  }
  ::close(in_pipe[1]);
  RunResult result;
  const auto deadline = Clock::now() + timeout;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  while (open_fds > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      ::kill(pid, SIGKILL);
      break;
    }
    if (::poll(fds, 2, static_cast<int>(left.count())) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      char buffer[4096];
      ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        (i == 0 ? result.out : result.err).append(buffer, static_cast<size_t>(n));
      }
    }
  }
  for (auto &fd : fds) {
    if (fd.fd >= 0) ::close(fd.fd);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

bool process_alive(pid_t pid) {
  if (pid <= 0 || ::kill(pid, 0) != 0) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  auto close_paren = line.rfind(')');
  return close_paren == std::string::npos || close_paren + 2 >= line.size() ||
         line[close_paren + 2] != 'Z';
}

void become_subreaper() {
  ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
}

int stop_pidfiles_under(const fs::path &root, const std::string &pidfile_name,
                        const std::string &argv0_contains, std::chrono::milliseconds grace) {
  std::error_code ec;
  int alive = 0;
  if (!fs::exists(root, ec)) return 0;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->path().filename() != pidfile_name) continue;
    std::ifstream in(it->path());
    pid_t pid = 0;
    if (!(in >> pid) || pid <= 1) continue;
    if (::kill(pid, 0) != 0) continue;
    std::ifstream cmdline("/proc/" + std::to_string(pid) + "/cmdline");
    std::string argv0;
    std::getline(cmdline, argv0, '\0');
    if (argv0.find(argv0_contains) == std::string::npos) continue;  // not ours (PID reused)
    ++alive;
    if (grace.count() <= 0) {
      ::kill(pid, SIGKILL);
      continue;
    }
    ::kill(pid, SIGTERM);
    if (!wait_gone(pid, grace)) {
      ::kill(pid, SIGKILL);
      wait_gone(pid, std::chrono::seconds(5));
    }
  }
  return alive;
}

}  // namespace hal::testing
