// isolation.h - running one clause in a process of its own, so that what a plugin does wrong
// (a crash, an abort, a call that never returns, a thread left behind) fails that clause alone:
// the supervisor watches the process and its plugin call trace, kills it past a deadline, and
// turns every way it can end into a clause result naming the signal, the entry and the time.
#ifndef HAL_CONFORMANCE_ISOLATION_H
#define HAL_CONFORMANCE_ISOLATION_H

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace hal::conformance {

/** Deadlines of a clause process. */
struct IsolationLimits {
  std::chrono::milliseconds call_timeout{std::chrono::seconds(120)};    ///< One plugin call.
  std::chrono::milliseconds clause_timeout{std::chrono::seconds(900)};  ///< The whole clause.
  /** After writing its result, the process must have exited within this. */
  std::chrono::milliseconds exit_grace{std::chrono::seconds(10)};
};

/** The files of one clause process. */
struct ClauseFiles {
  std::filesystem::path result;  ///< The result the process writes (result_json).
  std::filesystem::path trace;   ///< Its plugin call trace (call_trace.h).
  std::filesystem::path log;     ///< Its stdout and stderr.
};

/** What became of a clause process: "pass", "fail" or "skip" and the message. */
struct IsolatedResult {
  std::string result;     ///< "pass" | "fail" | "skip".
  std::string message;    ///< Failure messages, the skip reason, or how the process ended.
  bool completed = true;  ///< False when it crashed, was killed or ended without a result.
};

/** Runs `argv` (a clause process writing `files.result` and `files.trace`, its output going to
 *  `files.log`) under `limits`, and answers its result: the one it wrote, or a failure saying it
 *  crashed (signal, entry in flight), hung (entry or clause past its deadline, then killed), did
 *  not exit after finishing, or ended without a result, with the end of its output. */
IsolatedResult run_clause_process(const std::vector<std::string> &argv, const ClauseFiles &files,
                                  const IsolationLimits &limits);

/** The result file's document. */
nlohmann::json result_json(const IsolatedResult &result);

/** Threads of this process now (/proc/self/task), for the leak check of a clause process. */
std::size_t thread_count();

}  // namespace hal::conformance

#endif  // HAL_CONFORMANCE_ISOLATION_H
