// process_supervisor.h - runs and watches QEMU processes: per-VM state directories, spawning
// with argv (posix_spawn, never a shell) in a new process group, stderr capture, exit detection
// through a pidfd, and re-adoption of a QEMU that an earlier backend instance started.
#ifndef HAL_BACKENDS_KVM_QEMU_PROCESS_SUPERVISOR_H
#define HAL_BACKENDS_KVM_QEMU_PROCESS_SUPERVISOR_H

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace hal::kvm_qemu {

/** The files of one VM under the backend's state root: <root>/<vm-name>/ (mode 0700). */
class VmStateDir {
 public:
  /** The state dir of VM `name` under `root`. */
  VmStateDir(const std::filesystem::path &root, const std::string &name) : dir_(root / name) {}
  /** A state dir at an explicit path. */
  explicit VmStateDir(std::filesystem::path dir) : dir_(std::move(dir)) {}

  /** Creates the directory (and the root) with mode 0700; throws std::system_error. */
  void create() const;
  /** Removes the directory and everything in it. */
  void remove() const;
  /** True when the directory exists. */
  bool exists() const;

  /** The directory itself. */
  const std::filesystem::path &dir() const { return dir_; }
  /** QMP socket (mode 0600 once QEMU created it). */
  std::filesystem::path qmp_socket() const { return dir_ / "qmp.sock"; }
  /** Serial console socket (mode 0600 once QEMU created it). */
  std::filesystem::path console_socket() const { return dir_ / "console.sock"; }
  /** Copy of everything the guest wrote on its serial console. */
  std::filesystem::path console_log() const { return dir_ / "console.log"; }
  /** The QEMU pid, one decimal line. Present exactly while a QEMU is believed to run. */
  std::filesystem::path pidfile() const { return dir_ / "qemu.pid"; }
  /** The VM spec as given to vm_create (JSON). */
  std::filesystem::path spec_file() const { return dir_ / "spec.json"; }
  /** QEMU's stderr (and stdout), appended across runs. */
  std::filesystem::path stderr_log() const { return dir_ / "qemu.stderr.log"; }
  /** Small JSON with backend-side facts that must survive re-adoption (e.g. Migrated). */
  std::filesystem::path status_file() const { return dir_ / "status.json"; }

  /** Writes `content` to `path` atomically (temp file + rename) with mode 0600. */
  static void write_file(const std::filesystem::path &path, const std::string &content);
  /** Reads a whole file; nullopt when it cannot be read. */
  static std::optional<std::string> read_file(const std::filesystem::path &path);
  /** Reads the pid from the pidfile; nullopt when absent or malformed. */
  std::optional<pid_t> read_pid() const;

 private:
  std::filesystem::path dir_;
};

/** The default state root: /run/hal/kvm-qemu for root, else $XDG_RUNTIME_DIR/hal/kvm-qemu
 *  (falling back to /tmp/hal-<uid>/kvm-qemu without XDG_RUNTIME_DIR). */
std::filesystem::path default_state_root();

/** How a QEMU process ended. */
struct ExitInfo {
  /** False when the process was not our child (adopted) so its wait status is unknown. */
  bool status_known = false;
  /** Raw wait status (WIFEXITED/WIFSIGNALED) when status_known. */
  int wait_status = 0;
  /** "exited with status 1", "killed by signal 9 (Killed)" or "exited (status unknown)". */
  std::string describe() const;
};

/** One running QEMU process being watched. Destroying the object stops watching and never kills
 *  the process (so a later backend instance can adopt it). */
class QemuProcess {
 public:
  /** Called once, on the watcher thread, when the process has exited (and was reaped), before
   *  exited()/wait_exit() report it. */
  using ExitCallback = std::function<void(const ExitInfo &)>;

  /** Spawns argv[0] (searched in PATH when it has no '/') with argv, stdin /dev/null,
   *  stdout+stderr appended to `stderr_log`, in a new process group; writes `pidfile`.
   *  Throws std::system_error when the spawn fails. */
  static std::unique_ptr<QemuProcess> spawn(const std::vector<std::string> &argv,
                                            const std::filesystem::path &stderr_log,
                                            const std::filesystem::path &pidfile,
                                            ExitCallback on_exit);
  /** Watches an already running process (not necessarily our child). Throws std::system_error
   *  when it no longer exists. */
  static std::unique_ptr<QemuProcess> adopt(pid_t pid, ExitCallback on_exit);

  ~QemuProcess();
  QemuProcess(const QemuProcess &) = delete;
  QemuProcess &operator=(const QemuProcess &) = delete;

  /** The process id (also its process group id when we spawned it). */
  pid_t pid() const { return pid_; }
  /** True once the exit was observed. */
  bool exited() const;
  /** Waits up to `timeout` for the exit; true when it has exited. */
  bool wait_exit(std::chrono::milliseconds timeout) const;
  /** How it ended (valid once exited()). */
  ExitInfo exit_info() const;
  /** Sends `signal` to the process (no-op once exited). */
  void send_signal(int signal) const;

 private:
  QemuProcess(pid_t pid, int pidfd, ExitCallback on_exit);
  void watch();

  pid_t pid_;
  int pidfd_;
  int wake_fd_;
  ExitCallback on_exit_;
  mutable std::mutex mutex_;
  mutable std::condition_variable exited_cv_;
  bool exited_ = false;
  ExitInfo exit_info_;
  std::thread watcher_;
};

/** The NUL-separated argv of a live process from /proc/PID/cmdline (empty when gone/zombie). */
std::vector<std::string> process_cmdline(pid_t pid);

/** True when `pid` is alive, its argv[0] has the same file name as `binary` and one argument
 *  mentions `marker` (the VM's QMP socket path): i.e. it is *our* QEMU for that VM. */
bool is_our_qemu(pid_t pid, const std::string &binary, const std::string &marker);

/** The last `max_bytes` of a file, starting on a line boundary; "" when unreadable. */
std::string read_tail(const std::filesystem::path &path, size_t max_bytes);

}  // namespace hal::kvm_qemu

#endif  // HAL_BACKENDS_KVM_QEMU_PROCESS_SUPERVISOR_H
