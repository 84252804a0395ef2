// process_supervisor.cc - state dirs, posix_spawn of QEMU, pidfd exit watching, adoption checks.
#include "backends/kvm-qemu/process_supervisor.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <system_error>

extern char **environ;

namespace hal::kvm_qemu {
namespace fs = std::filesystem;

namespace {

// pidfd wrappers through syscall(2): glibc 2.36's <sys/pidfd.h> lacks C linkage for C++.
int sys_pidfd_open(pid_t pid) {
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}
int sys_pidfd_send_signal(int pidfd, int signal) {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, signal, nullptr, 0));
}

[[noreturn]] void throw_errno(int error, const std::string &what) {
  throw std::system_error(error, std::generic_category(), what);
}

// mkdir -p with mode 0700 on every component we create, and chmod 0700 on the leaf.
void make_private_dirs(const fs::path &dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    if (dir.has_parent_path() && dir.parent_path() != dir) make_private_dirs(dir.parent_path());
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
      throw_errno(errno, "mkdir " + dir.string());
  }
}

}  // namespace

void VmStateDir::create() const {
  make_private_dirs(dir_);
  if (::chmod(dir_.c_str(), 0700) != 0) throw_errno(errno, "chmod " + dir_.string());
}

void VmStateDir::remove() const {
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

bool VmStateDir::exists() const {
  std::error_code ec;
  return fs::is_directory(dir_, ec);
}

void VmStateDir::write_file(const fs::path &path, const std::string &content) {
  const fs::path tmp = path.string() + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw_errno(errno, "open " + tmp.string());
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int error = errno;
      ::close(fd);
      throw_errno(error, "write " + tmp.string());
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) throw_errno(errno, "rename " + path.string());
}

std::optional<std::string> VmStateDir::read_file(const fs::path &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::optional<pid_t> VmStateDir::read_pid() const {
  auto text = read_file(pidfile());
  if (!text) return std::nullopt;
  char *end = nullptr;
  long pid = std::strtol(text->c_str(), &end, 10);
  if (end == text->c_str() || pid <= 1) return std::nullopt;
  return static_cast<pid_t>(pid);
}

fs::path default_state_root() {
  if (::geteuid() == 0) return "/run/hal/kvm-qemu";
  if (const char *xdg = std::getenv("XDG_RUNTIME_DIR"); xdg != nullptr && *xdg != '\0') {
    return fs::path(xdg) / "hal" / "kvm-qemu";
  }
  return fs::path("/tmp") / ("hal-" + std::to_string(::geteuid())) / "kvm-qemu";
}

std::string ExitInfo::describe() const {
  if (!status_known) return "exited (status unknown: not our child)";
  if (WIFEXITED(wait_status))
    return "exited with status " + std::to_string(WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) {
    int sig = WTERMSIG(wait_status);
    const char *name = ::strsignal(sig);
    return "killed by signal " + std::to_string(sig) + " (" + (name ? name : "?") + ")";
  }
  return "ended (wait status " + std::to_string(wait_status) + ")";
}

std::unique_ptr<QemuProcess> QemuProcess::spawn(const std::vector<std::string> &argv,
                                                const fs::path &stderr_log, const fs::path &pidfile,
                                                ExitCallback on_exit) {
  if (argv.empty()) throw std::invalid_argument("spawn: empty argv");
  std::vector<char *> args;
  args.reserve(argv.size() + 1);
  for (const std::string &arg : argv) args.push_back(const_cast<char *>(arg.c_str()));
  args.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, stderr_log.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0600);
  posix_spawn_file_actions_adddup2(&actions, 2, 1);

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t empty;
  sigemptyset(&empty);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGUSR1, SIGUSR2})
    sigaddset(&defaults, sig);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  pid_t pid = -1;
  const bool search = argv[0].find('/') == std::string::npos;
  int rc = search ? ::posix_spawnp(&pid, args[0], &actions, &attr, args.data(), environ)
                  : ::posix_spawn(&pid, args[0], &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) throw_errno(rc, "spawn " + argv[0]);

  int pidfd = sys_pidfd_open(pid);
  if (pidfd < 0) {
    int error = errno;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    throw_errno(error, "pidfd_open");
  }
  try {
    VmStateDir::write_file(pidfile, std::to_string(pid) + "\n");
  } catch (...) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    ::close(pidfd);
    throw;
  }
  return std::unique_ptr<QemuProcess>(new QemuProcess(pid, pidfd, std::move(on_exit)));
}

std::unique_ptr<QemuProcess> QemuProcess::adopt(pid_t pid, ExitCallback on_exit) {
  int pidfd = sys_pidfd_open(pid);
  if (pidfd < 0) throw_errno(errno, "pidfd_open " + std::to_string(pid));
  return std::unique_ptr<QemuProcess>(new QemuProcess(pid, pidfd, std::move(on_exit)));
}

QemuProcess::QemuProcess(pid_t pid, int pidfd, ExitCallback on_exit)
    : pid_(pid), pidfd_(pidfd), wake_fd_(::eventfd(0, EFD_CLOEXEC)), on_exit_(std::move(on_exit)) {
  if (wake_fd_ < 0) {
    int error = errno;
    ::close(pidfd_);
    throw_errno(error, "eventfd");
  }
  watcher_ = std::thread([this] { watch(); });
}

QemuProcess::~QemuProcess() {
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
  if (watcher_.joinable()) {
    if (watcher_.get_id() == std::this_thread::get_id()) {
      watcher_.detach();  // destroyed from its own callback: it returns right after
    } else {
      watcher_.join();
    }
  }
  ::close(wake_fd_);
  ::close(pidfd_);
}

void QemuProcess::watch() {
  pollfd fds[2] = {{pidfd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
  for (;;) {
    int rc = ::poll(fds, 2, -1);
    if (rc < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;  // stop watching, leave the process alone
    if (fds[0].revents != 0) break;
  }
  ExitInfo info;
  int status = 0;
  pid_t reaped;
  do {
    reaped = ::waitpid(pid_, &status, WNOHANG);
  } while (reaped < 0 && errno == EINTR);
  if (reaped == pid_) {
    info.status_known = true;
    info.wait_status = status;
  }
  // The callback runs first, so wait_exit() returning means the owner has seen the exit.
  if (on_exit_) on_exit_(info);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    exited_ = true;
    exit_info_ = info;
  }
  exited_cv_.notify_all();
}

bool QemuProcess::exited() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return exited_;
}

bool QemuProcess::wait_exit(std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mutex_);
  return exited_cv_.wait_for(lock, timeout, [this] { return exited_; });
}

ExitInfo QemuProcess::exit_info() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return exit_info_;
}

void QemuProcess::send_signal(int signal) const {
  if (exited()) return;
  sys_pidfd_send_signal(pidfd_, signal);
}

std::vector<std::string> process_cmdline(pid_t pid) {
  std::vector<std::string> args;
  auto text = VmStateDir::read_file(fs::path("/proc") / std::to_string(pid) / "cmdline");
  if (!text) return args;
  std::string current;
  for (char c : *text) {
    if (c == '\0') {
      args.push_back(current);
      current.clear();
    } else {
      current += c;
    }
  }
  if (!current.empty()) args.push_back(current);
  return args;
}

bool is_our_qemu(pid_t pid, const std::string &binary, const std::string &marker) {
  if (pid <= 1 || ::kill(pid, 0) != 0) return false;
  std::vector<std::string> args = process_cmdline(pid);
  // A process in the middle of execve() briefly shows an empty cmdline: look again.
  for (int i = 0; i < 20 && args.empty() && ::kill(pid, 0) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    args = process_cmdline(pid);
  }
  if (args.empty()) return false;
  if (fs::path(args[0]).filename() != fs::path(binary).filename()) return false;
  for (const std::string &arg : args) {
    if (arg.find(marker) != std::string::npos) return true;
  }
  return false;
}

std::string read_tail(const fs::path &path, size_t max_bytes) {
  auto text = VmStateDir::read_file(path);
  if (!text) return "";
  if (text->size() <= max_bytes) return *text;
  std::string tail = text->substr(text->size() - max_bytes);
  size_t newline = tail.find('\n');
  if (newline != std::string::npos && newline + 1 < tail.size()) tail = tail.substr(newline + 1);
  return tail;
}

}  // namespace hal::kvm_qemu
