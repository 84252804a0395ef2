// process_supervisor.cc - state dirs, spawning and watching VMM processes (see
// process_supervisor.h).
#include "backends/cloud-hypervisor/process_supervisor.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <system_error>

extern char **environ;

namespace hal::cloud_hypervisor {
namespace fs = std::filesystem;

namespace {
int pidfd_open(pid_t pid) {
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}
}  // namespace

void VmStateDir::create() const {
  fs::create_directories(dir_);
  fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::replace);
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
  fs::path tmp = path;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), tmp.string());
  const char *p = content.data();
  size_t left = content.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      throw std::system_error(err, std::generic_category(), tmp.string());
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  ::close(fd);
  fs::rename(tmp, path);
}

std::optional<std::string> VmStateDir::read_file(const fs::path &path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

std::optional<pid_t> VmStateDir::read_pid() const {
  auto text = read_file(pidfile());
  if (!text) return std::nullopt;
  try {
    size_t used = 0;
    long pid = std::stol(*text, &used);
    if (pid <= 1) return std::nullopt;
    return static_cast<pid_t>(pid);
  } catch (const std::exception &) {
    return std::nullopt;
  }
}

fs::path default_state_root() {
  if (::geteuid() == 0) return "/run/hal/cloud-hypervisor";
  if (const char *xdg = std::getenv("XDG_RUNTIME_DIR"); xdg != nullptr && *xdg != '\0') {
    return fs::path(xdg) / "hal" / "cloud-hypervisor";
  }
  return fs::path("/tmp") / ("hal-" + std::to_string(::getuid())) / "cloud-hypervisor";
}

std::vector<std::string> vmm_argv(const std::string &binary, const VmStateDir &dir, bool verbose) {
  std::vector<std::string> argv = {binary, "--api-socket", "path=" + dir.api_socket().string(),
                                   "--event-monitor", "path=" + dir.event_file().string()};
  if (verbose) argv.push_back("-v");
  return argv;
}

std::string ExitInfo::describe() const {
  if (!status_known) return "exited (status unknown)";
  if (WIFEXITED(wait_status))
    return "exited with status " + std::to_string(WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) {
    int sig = WTERMSIG(wait_status);
    return "killed by signal " + std::to_string(sig) + " (" + ::strsignal(sig) + ")";
  }
  return "ended (wait status " + std::to_string(wait_status) + ")";
}

std::unique_ptr<VmmProcess> VmmProcess::spawn(const std::vector<std::string> &argv,
                                              const fs::path &log, const fs::path &pidfile,
                                              ExitCallback on_exit) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t none, defaults;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGINT);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  std::vector<char *> args;
  for (const auto &a : argv) args.push_back(const_cast<char *>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int rc = argv[0].find('/') == std::string::npos
               ? ::posix_spawnp(&pid, argv[0].c_str(), &actions, &attr, args.data(), environ)
               : ::posix_spawn(&pid, argv[0].c_str(), &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) throw std::system_error(rc, std::generic_category(), "spawn " + argv[0]);
  int pidfd = pidfd_open(pid);
  if (pidfd < 0) {
    int err = errno;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    throw std::system_error(err, std::generic_category(), "pidfd_open");
  }
  try {
    VmStateDir::write_file(pidfile, std::to_string(pid) + "\n");
  } catch (...) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    ::close(pidfd);
    throw;
  }
  return std::unique_ptr<VmmProcess>(new VmmProcess(pid, pidfd, true, std::move(on_exit)));
}

std::unique_ptr<VmmProcess> VmmProcess::adopt(pid_t pid, ExitCallback on_exit) {
  int pidfd = pidfd_open(pid);
  if (pidfd < 0) throw std::system_error(errno, std::generic_category(), "pidfd_open");
  return std::unique_ptr<VmmProcess>(new VmmProcess(pid, pidfd, false, std::move(on_exit)));
}

VmmProcess::VmmProcess(pid_t pid, int pidfd, bool child, ExitCallback on_exit)
    : pid_(pid), pidfd_(pidfd), child_(child), on_exit_(std::move(on_exit)) {
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC);
  watcher_ = std::thread([this] { watch(); });
}

VmmProcess::~VmmProcess() {
  uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
  if (watcher_.joinable()) watcher_.join();
  ::close(wake_fd_);
  ::close(pidfd_);
}

void VmmProcess::watch() {
  for (;;) {
    pollfd fds[2] = {{pidfd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    int rc = ::poll(fds, 2, -1);
    if (rc < 0 && errno == EINTR) continue;
    if (fds[1].revents) return;  // stop watching
    if (!(fds[0].revents & (POLLIN | POLLHUP))) continue;
    ExitInfo info;
    if (child_) {
      int status = 0;
      if (::waitpid(pid_, &status, 0) == pid_) {
        info.status_known = true;
        info.wait_status = status;
      }
    }
    if (on_exit_) on_exit_(info);
    std::lock_guard<std::mutex> lock(mutex_);
    exited_ = true;
    exit_info_ = info;
    cv_.notify_all();
    return;
  }
}

bool VmmProcess::exited() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return exited_;
}
bool VmmProcess::wait_exit(std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mutex_);
  return cv_.wait_for(lock, timeout, [this] { return exited_; });
}
ExitInfo VmmProcess::exit_info() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return exit_info_;
}
void VmmProcess::send_signal(int signal) const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!exited_) ::syscall(SYS_pidfd_send_signal, pidfd_, signal, nullptr, 0);
}

bool is_our_vmm(pid_t pid, const std::string &binary, const std::string &marker) {
  auto text = VmStateDir::read_file("/proc/" + std::to_string(pid) + "/cmdline");
  if (!text || text->empty()) return false;
  std::vector<std::string> args;
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
  if (args.empty() || fs::path(args[0]).filename() != fs::path(binary).filename()) return false;
  for (const auto &a : args) {
    if (a.find(marker) != std::string::npos) return true;
  }
  return false;
}

std::string read_tail(const fs::path &path, size_t max_bytes) {
  auto text = VmStateDir::read_file(path);
  if (!text) return "";
  if (text->size() <= max_bytes) return *text;
  std::string tail = text->substr(text->size() - max_bytes);
  size_t nl = tail.find('\n');
  return nl == std::string::npos ? tail : tail.substr(nl + 1);
}

std::string resolve_binary(const std::string &binary) {
  if (binary.find('/') != std::string::npos) {
    return ::access(binary.c_str(), X_OK) == 0 ? binary : "";
  }
  const char *path = std::getenv("PATH");
  std::stringstream in(path ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(in, dir, ':')) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + binary;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

}  // namespace hal::cloud_hypervisor
