// process_supervisor.h - runs and watches cloud-hypervisor processes: the per-VM state directory
// (API socket, event-monitor file, serial socket, pidfile, spec, stderr log, status), spawning
// `cloud-hypervisor --api-socket path=… --event-monitor path=…` from argv (posix_spawn, never a
// shell) in its own process group, exit detection through a pidfd, and re-adoption of a VMM an
// earlier backend instance started.
#ifndef HAL_BACKENDS_CLOUD_HYPERVISOR_PROCESS_SUPERVISOR_H
#define HAL_BACKENDS_CLOUD_HYPERVISOR_PROCESS_SUPERVISOR_H

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

namespace hal::cloud_hypervisor {

/** The files of one VM: <root>/<vm-name>/ (mode 0700). */
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

  /** The directory. */
  const std::filesystem::path &dir() const { return dir_; }
  /** The VMM's REST API socket. */
  std::filesystem::path api_socket() const { return dir_ / "api.sock"; }
  /** The event-monitor file the VMM appends JSON events to. */
  std::filesystem::path event_file() const { return dir_ / "events.json"; }
  /** Where an outgoing migration's relay listens for the VMM. */
  std::filesystem::path migration_out_socket() const { return dir_ / "migration-out.sock"; }
  /** Where the VMM receives an incoming migration (relayed from the public endpoint). */
  std::filesystem::path migration_in_socket() const { return dir_ / "migration-in.sock"; }
  /** The VMM's pid; present exactly while a VMM is believed to run. */
  std::filesystem::path pidfile() const { return dir_ / "cloud-hypervisor.pid"; }
  /** The VM spec as given to vm_create. */
  std::filesystem::path spec_file() const { return dir_ / "spec.json"; }
  /** The VMM's stdout and stderr, appended across runs. */
  std::filesystem::path stderr_log() const { return dir_ / "cloud-hypervisor.log"; }
  /** Backend facts that must survive re-adoption ({"state":"Migrated"}). */
  std::filesystem::path status_file() const { return dir_ / "status.json"; }

  /** Writes `content` atomically (temp file + rename) with mode 0600. */
  static void write_file(const std::filesystem::path &path, const std::string &content);
  /** Reads a whole file; nullopt when it cannot be read. */
  static std::optional<std::string> read_file(const std::filesystem::path &path);
  /** The pid in the pidfile; nullopt when absent or malformed. */
  std::optional<pid_t> read_pid() const;

 private:
  std::filesystem::path dir_;
};

/** The default state root: /run/hal/cloud-hypervisor for root, else
 *  $XDG_RUNTIME_DIR/hal/cloud-hypervisor, else /tmp/hal-<uid>/cloud-hypervisor. */
std::filesystem::path default_state_root();

/** The argv of a VMM for state dir `dir`: binary --api-socket path=… --event-monitor path=…
 *  plus -v when `verbose`. */
std::vector<std::string> vmm_argv(const std::string &binary, const VmStateDir &dir, bool verbose);

/** How a process ended. */
struct ExitInfo {
  /** False for an adopted process (not our child): its wait status is unknown. */
  bool status_known = false;
  /** Raw wait status when status_known. */
  int wait_status = 0;
  /** "exited with status 1", "killed by signal 9 (Killed)" or "exited (status unknown)". */
  std::string describe() const;
};

/** One watched VMM process. Destroying it stops watching; it never kills the process. */
class VmmProcess {
 public:
  /** Called once on the watcher thread after the process exited (and was reaped). */
  using ExitCallback = std::function<void(const ExitInfo &)>;

  /** Spawns argv (argv[0] searched in PATH without '/'), stdin /dev/null, stdout+stderr
   *  appended to `log`, in a new process group; writes `pidfile`. Throws std::system_error. */
  static std::unique_ptr<VmmProcess> spawn(const std::vector<std::string> &argv,
                                           const std::filesystem::path &log,
                                           const std::filesystem::path &pidfile,
                                           ExitCallback on_exit);
  /** Watches a running process that may not be our child. Throws std::system_error when gone. */
  static std::unique_ptr<VmmProcess> adopt(pid_t pid, ExitCallback on_exit);

  ~VmmProcess();
  VmmProcess(const VmmProcess &) = delete;
  VmmProcess &operator=(const VmmProcess &) = delete;

  /** The pid (also the process group id when spawned by us). */
  pid_t pid() const { return pid_; }
  /** True once the exit was observed. */
  bool exited() const;
  /** Waits up to `timeout`; true when it has exited. */
  bool wait_exit(std::chrono::milliseconds timeout) const;
  /** How it ended (valid once exited()). */
  ExitInfo exit_info() const;
  /** Sends `signal` (no-op once exited). */
  void send_signal(int signal) const;

 private:
  VmmProcess(pid_t pid, int pidfd, bool child, ExitCallback on_exit);
  void watch();

  pid_t pid_;
  int pidfd_;
  bool child_;
  int wake_fd_;
  ExitCallback on_exit_;
  mutable std::mutex mutex_;
  mutable std::condition_variable cv_;
  bool exited_ = false;
  ExitInfo exit_info_;
  std::thread watcher_;
};

/** True when `pid` lives, its argv[0] has the file name of `binary`, and an argument mentions
 *  `marker` (the VM's API socket): i.e. it is the VMM of that VM. */
bool is_our_vmm(pid_t pid, const std::string &binary, const std::string &marker);

/** The last `max_bytes` of a file from a line start; "" when unreadable. */
std::string read_tail(const std::filesystem::path &path, size_t max_bytes);

/** The executable `binary` resolves to (PATH search without '/'); empty when not executable. */
std::string resolve_binary(const std::string &binary);

}  // namespace hal::cloud_hypervisor

#endif  // HAL_BACKENDS_CLOUD_HYPERVISOR_PROCESS_SUPERVISOR_H
