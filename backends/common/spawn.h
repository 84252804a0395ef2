// spawn.h - starts a hypervisor process from an argv (fork and execve, never a shell) in its own
// process group with a clean signal state, no_new_privs, stdin from /dev/null and its output in a
// log file. The
// process group lets a backend signal the hypervisor and its helpers without touching the host;
// the clean signal state keeps an ignored SIGPIPE or a blocked SIGTERM of the host process (e.g.
// hal-node) from being inherited.
#ifndef HAL_BACKENDS_COMMON_SPAWN_H
#define HAL_BACKENDS_COMMON_SPAWN_H

#include <signal.h>
#include <sys/types.h>

#include <array>
#include <filesystem>
#include <string>
#include <vector>

namespace hal::backend_common {

/** The signals a spawned process starts with at their default disposition. */
inline constexpr std::array<int, 7> kResetSignals = {SIGPIPE, SIGINT,  SIGTERM, SIGHUP,
                                                     SIGCHLD, SIGUSR1, SIGUSR2};

/** Spawns argv[0] (searched in PATH like execvp when it has no '/') with `argv`: stdin /dev/null,
 *  stdout and stderr appended to `log` (created with mode 0600), in a new process group whose id
 *  is its pid, with umask 077 (what it creates is owner-only), an empty signal mask, kResetSignals
 *  at their defaults and PR_SET_NO_NEW_PRIVS
 *  set (no setuid bit or file capability gives it or its children privileges), in the working
 *  directory `cwd` (the caller's when empty; relative paths the process uses resolve there).
 *  Returns its pid. Throws std::invalid_argument for an empty argv, std::system_error when the
 *  spawn fails (e.g. a missing binary, a `cwd` it cannot enter). */
pid_t spawn_process(const std::vector<std::string> &argv, const std::filesystem::path &log,
                    const std::filesystem::path &cwd = {});

}  // namespace hal::backend_common

#endif  // HAL_BACKENDS_COMMON_SPAWN_H
