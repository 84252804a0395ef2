// spawn.cc - posix_spawn of a hypervisor process (see spawn.h).
#include "backends/common/spawn.h"

#include <fcntl.h>
#include <spawn.h>

#include <stdexcept>
#include <system_error>

extern char **environ;

namespace hal::backend_common {

namespace {

// posix_spawn's file actions and attributes, destroyed on every path out.
struct SpawnSettings {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;

  explicit SpawnSettings(const std::filesystem::path &log) {
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&actions, 2, 1);

    posix_spawnattr_init(&attr);
    sigset_t empty;
    sigemptyset(&empty);
    posix_spawnattr_setsigmask(&attr, &empty);
    sigset_t defaults;
    sigemptyset(&defaults);
    for (int sig : kResetSignals) sigaddset(&defaults, sig);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(
        &attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  }
  ~SpawnSettings() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
  SpawnSettings(const SpawnSettings &) = delete;
  SpawnSettings &operator=(const SpawnSettings &) = delete;
};

}  // namespace

pid_t spawn_process(const std::vector<std::string> &argv, const std::filesystem::path &log) {
  if (argv.empty()) throw std::invalid_argument("spawn: empty argv");
  std::vector<char *> args;
  args.reserve(argv.size() + 1);
  for (const std::string &arg : argv) args.push_back(const_cast<char *>(arg.c_str()));
  args.push_back(nullptr);

  SpawnSettings settings(log);
  pid_t pid = -1;
  const bool search = argv[0].find('/') == std::string::npos;
  const int rc =
      search
          ? ::posix_spawnp(&pid, args[0], &settings.actions, &settings.attr, args.data(), environ)
          : ::posix_spawn(&pid, args[0], &settings.actions, &settings.attr, args.data(), environ);
  if (rc != 0) throw std::system_error(rc, std::generic_category(), "spawn " + argv[0]);
  return pid;
}

}  // namespace hal::backend_common
