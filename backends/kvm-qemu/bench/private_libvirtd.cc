// private_libvirtd.cc - starts/stops a private libvirtd + virtlogd (see private_libvirtd.h).
#include "backends/kvm-qemu/bench/private_libvirtd.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include "testing/child_process.h"

extern char **environ;

namespace hal::kvm_qemu::bench {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

// The first existing executable named `name` in $PATH, /usr/sbin or /sbin; "" when none.
std::string find_program(const std::string &name) {
  std::string path = std::getenv("PATH") != nullptr ? std::getenv("PATH") : "";
  path += ":/usr/sbin:/sbin:/usr/bin";
  std::stringstream dirs(path);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    fs::path candidate = fs::path(dir) / name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  return "";
}

void write_text(const fs::path &path, const std::string &text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

std::string read_text(const fs::path &path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string tail(const std::string &text, size_t n) {
  return text.size() <= n ? text : "..." + text.substr(text.size() - n);
}

// Waits until `path` exists or `pid` (our child) exited; false on exit (then `pid` is reaped and
// set to -1) or timeout.
bool wait_for_path(const fs::path &path, pid_t &pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::error_code ec;
    if (fs::exists(path, ec)) return true;
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      pid = -1;
      return false;
    }
    std::this_thread::sleep_for(5ms);
  }
  return false;
}

// One bind mount to perform in the child: source onto target (both prepared before fork).
struct Bind {
  std::string source;
  std::string target;
};

}  // namespace

PrivateLibvirtd::PrivateLibvirtd() {
  char templ[] = "/tmp/hal-kvmq-libvirt-XXXXXX";
  if (::mkdtemp(templ) == nullptr) {
    error_ = std::string("mkdtemp: ") + std::strerror(errno);
    return;
  }
  dir_ = templ;
  ::chmod(dir_.c_str(), 0755);  // libvirt's QEMU must be able to reach the console socket
  if (!start()) {
    stop(libvirtd_);
    stop(virtlogd_);
  }
}

PrivateLibvirtd::~PrivateLibvirtd() {
  stop(libvirtd_);
  stop(virtlogd_);
  if (!dir_.empty()) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
}

std::string PrivateLibvirtd::uri() const {
  return "qemu:///system?socket=" + (dir_ / "run" / "libvirt-sock").string();
}

bool PrivateLibvirtd::start() {
  if (::geteuid() != 0) {
    error_ = "needs root (a private privileged libvirtd in its own mount namespace)";
    return false;
  }
  const std::string libvirtd = find_program("libvirtd");
  const std::string virtlogd = find_program("virtlogd");
  if (libvirtd.empty() || virtlogd.empty() || find_program("virsh").empty()) {
    error_ =
        "libvirtd/virtlogd/virsh not installed (Debian: libvirt-daemon libvirt-daemon-driver-qemu "
        "libvirt-clients; scripts/install-deps.sh)";
    return false;
  }
  for (const char *sub : {"etc", "run", "lib", "log", "cache"}) fs::create_directories(dir_ / sub);
  write_text(dir_ / "etc" / "libvirtd.conf",
             "# private libvirtd for hal_kvm_qemu_create_bench\n"
             "unix_sock_dir = \"/run/libvirt\"\n");
  // QEMU runs as root, like the raw and HAL-backend QEMUs it is compared with.
  write_text(
      dir_ / "etc" / "qemu.conf",
      "# private libvirtd for hal_kvm_qemu_create_bench\nuser = \"root\"\ngroup = \"root\"\n");
  std::string passwd = read_text("/etc/passwd");
  std::string group = read_text("/etc/group");
  if (passwd.find("\nlibvirt-qemu:") == std::string::npos) {
    passwd += "libvirt-qemu:x:64055:64055:Libvirt Qemu:/var/lib/libvirt:/usr/sbin/nologin\n";
  }
  if (group.find("\nlibvirt-qemu:") == std::string::npos) group += "libvirt-qemu:x:64055:\n";
  if (group.find("\nkvm:") == std::string::npos) group += "kvm:x:64056:\n";
  write_text(dir_ / "passwd", passwd);
  write_text(dir_ / "group", group);

  // Everything the children need, prepared before fork (the child only makes system calls).
  const std::vector<std::string> hidden = {"/run", "/var/lib", "/var/log", "/var/cache"};
  const std::vector<std::string> mkdirs = {"/run/libvirt", "/var/lib/libvirt", "/var/log/libvirt",
                                           "/var/cache/libvirt"};
  const std::vector<Bind> binds = {
      {(dir_ / "run").string(), "/run/libvirt"},
      {(dir_ / "lib").string(), "/var/lib/libvirt"},
      {(dir_ / "log").string(), "/var/log/libvirt"},
      {(dir_ / "cache").string(), "/var/cache/libvirt"},
      {(dir_ / "etc").string(), "/etc/libvirt"},
      {(dir_ / "passwd").string(), "/etc/passwd"},
      {(dir_ / "group").string(), "/etc/group"},
  };
  const std::string daemon_log = (dir_ / "daemons.log").string();
  int log_fd = ::open(daemon_log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (log_fd < 0 || null_fd < 0) {
    error_ = "cannot open " + daemon_log;
    return false;
  }

  // virtlogd: creates the private mount namespace, then becomes virtlogd.
  virtlogd_ = ::fork();
  if (virtlogd_ == 0) {
    ::dup2(null_fd, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // the benchmark died: do not outlive it
    if (::unshare(CLONE_NEWNS) != 0) ::_exit(120);
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) ::_exit(121);
    for (const std::string &d : hidden) {
      if (::mount("tmpfs", d.c_str(), "tmpfs", 0, "mode=0755") != 0) ::_exit(122);
    }
    for (const std::string &d : mkdirs) {
      if (::mkdir(d.c_str(), 0755) != 0) ::_exit(123);
    }
    for (const Bind &b : binds) {
      if (::mount(b.source.c_str(), b.target.c_str(), nullptr, MS_BIND, nullptr) != 0) {
        ::_exit(124);
      }
    }
    char *argv[] = {const_cast<char *>(virtlogd.c_str()), nullptr};
    ::execve(virtlogd.c_str(), argv, environ);
    ::_exit(127);
  }
  if (virtlogd_ < 0) {
    error_ = std::string("fork: ") + std::strerror(errno);
    ::close(log_fd);
    ::close(null_fd);
    return false;
  }
  if (!wait_for_path(dir_ / "run" / "virtlogd-sock", virtlogd_, 10s)) {
    error_ = "virtlogd did not start (mount namespace setup or exec failed): " +
             tail(read_text(daemon_log), 600);
    ::close(log_fd);
    ::close(null_fd);
    return false;
  }

  // libvirtd: joins virtlogd's mount namespace.
  const std::string ns_path = "/proc/" + std::to_string(virtlogd_) + "/ns/mnt";
  int ns_fd = ::open(ns_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (ns_fd < 0) {
    error_ = "cannot open " + ns_path;
    ::close(log_fd);
    ::close(null_fd);
    return false;
  }
  libvirtd_ = ::fork();
  if (libvirtd_ == 0) {
    ::dup2(null_fd, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // the benchmark died: do not outlive it
    if (::setns(ns_fd, CLONE_NEWNS) != 0) ::_exit(125);
    if (::chdir("/") != 0) ::_exit(126);
    char *argv[] = {const_cast<char *>(libvirtd.c_str()), const_cast<char *>("--config"),
                    const_cast<char *>("/etc/libvirt/libvirtd.conf"), nullptr};
    ::execve(libvirtd.c_str(), argv, environ);
    ::_exit(127);
  }
  ::close(ns_fd);
  ::close(log_fd);
  ::close(null_fd);
  if (libvirtd_ < 0) {
    error_ = std::string("fork: ") + std::strerror(errno);
    return false;
  }
  if (!wait_for_path(dir_ / "run" / "libvirt-sock", libvirtd_, 20s)) {
    error_ = "libvirtd did not start: " + tail(read_text(daemon_log), 800);
    return false;
  }
  // The socket exists before the drivers finish initialising; a first call waits for them.
  std::string out;
  if (virsh({"uri"}, &out) != 0) {
    error_ = "libvirtd is not usable: virsh uri: " + out +
             "; daemon log: " + tail(read_text(daemon_log), 800);
    return false;
  }
  return true;
}

void PrivateLibvirtd::stop(pid_t &pid) {
  if (pid <= 0) return;
  ::kill(pid, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  int status = 0;
  for (;;) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(5ms);
  }
  pid = -1;
}

int PrivateLibvirtd::virsh(const std::vector<std::string> &args, std::string *output) const {
  static const std::string program = find_program("virsh");
  const std::string log = (dir_ / "virsh.log").string();
  std::vector<std::string> full = {program, "-q", "-c", uri()};
  full.insert(full.end(), args.begin(), args.end());
  std::unique_ptr<hal::testing::ChildProcess> child;
  try {
    child = std::make_unique<hal::testing::ChildProcess>(
        std::move(full), hal::testing::output_to(log, /*truncate=*/true));
  } catch (const std::exception &e) {
    if (output) *output = e.what();
    return 127;
  }
  std::optional<int> status;
  while (!(status = child->wait(std::chrono::minutes(10)))) {
  }
  if (output) *output = tail(read_text(log), 600);
  return WIFEXITED(*status) ? WEXITSTATUS(*status) : 128 + WTERMSIG(*status);
}

void PrivateLibvirtd::kill_domain_qemu(const std::string &name) const {
  const std::string pid_text = read_text(dir_ / "run" / "qemu" / (name + ".pid"));
  const pid_t pid = static_cast<pid_t>(std::atol(pid_text.c_str()));
  if (pid <= 1) return;
  // Only a QEMU started for this domain (its argv names the guest).
  const std::string cmdline = read_text("/proc/" + std::to_string(pid) + "/cmdline");
  if (cmdline.find("guest=" + name) == std::string::npos) return;
  ::kill(pid, SIGKILL);
  for (int i = 0; i < 1000 && ::kill(pid, 0) == 0; ++i) std::this_thread::sleep_for(5ms);
}

}  // namespace hal::kvm_qemu::bench
