// state_dir.h - one VM's private state directory (<root>/<vm-name>/, mode 0700) and the files
// every backend keeps in it: the hypervisor's pidfile and output log, the spec and the status. A
// backend derives its own VmStateDir from it to name its protocol's files (sockets, ...).
#ifndef HAL_BACKENDS_COMMON_STATE_DIR_H
#define HAL_BACKENDS_COMMON_STATE_DIR_H

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>

namespace hal::backend_common {

/** The file name of the VM spec in every VM state dir (StateDir::spec_file()). */
inline constexpr char kSpecFileName[] = "spec.json";

/** The names a backend gives the files of its hypervisor process in a state dir. */
struct ProcessFileNames {
  /** The pidfile, e.g. "qemu.pid". */
  std::string pidfile;
  /** The process's stdout and stderr, e.g. "qemu.stderr.log". */
  std::string log;
};

/** A VM's state directory and the files every backend keeps in it. */
class StateDir {
 public:
  /** The state dir `dir`, whose hypervisor process files are named `names`. */
  StateDir(std::filesystem::path dir, ProcessFileNames names)
      : dir_(std::move(dir)), names_(std::move(names)) {}

  /** Creates the directory and its missing parents with mode 0700 (create_private_dir); throws
   *  std::system_error. */
  void create() const;
  /** Removes the directory and everything in it; best effort (errors are ignored). */
  void remove() const;
  /** True when the directory exists. */
  bool exists() const;

  /** The directory itself. */
  const std::filesystem::path &dir() const { return dir_; }
  /** The hypervisor's pid, one decimal line; present exactly while one is believed to run. */
  std::filesystem::path pidfile() const { return dir_ / names_.pidfile; }
  /** The hypervisor's stdout and stderr, appended across runs. */
  std::filesystem::path stderr_log() const { return dir_ / names_.log; }
  /** The VM spec as given to vm_create (JSON). */
  std::filesystem::path spec_file() const { return dir_ / kSpecFileName; }
  /** Backend facts that must survive re-adoption (JSON, e.g. {"state":"Migrated"}). */
  std::filesystem::path status_file() const { return dir_ / "status.json"; }

  /** The pid in the pidfile; nullopt when absent or malformed. */
  std::optional<pid_t> read_pid() const;

 private:
  std::filesystem::path dir_;
  ProcessFileNames names_;
};

}  // namespace hal::backend_common

#endif  // HAL_BACKENDS_COMMON_STATE_DIR_H
