// isolation.cc - supervising clause processes: spawn, watch, kill past deadlines, explain.
#include "isolation.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "backends/common/spawn.h"
#include "call_trace.h"

namespace hal::conformance {
namespace {

using Clock = std::chrono::steady_clock;

std::string seconds(Clock::duration d) {
  std::ostringstream out;
  out.precision(1);
  out << std::fixed << std::chrono::duration<double>(d).count() << " s";
  return out.str();
}

// The last `lines` lines of the process's output, indented, or "" when it wrote nothing.
std::string output_tail(const std::filesystem::path &log, std::size_t lines = 15) {
  std::ifstream in(log);
  std::vector<std::string> all;
  for (std::string line; std::getline(in, line);) all.push_back(line);
  if (all.empty()) return "";
  std::string tail = "\nlast lines of its output:";
  for (std::size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i)
    tail += "\n  " + all[i];
  return tail;
}

// " (in plugin entry 'vm_start' for 1.2 s)" for the call in flight, if any.
std::string in_entry(const CallTraceReader &trace, Clock::time_point now) {
  auto call = trace.oldest();
  if (!call) return " (no plugin call was in flight)";
  return " (in plugin entry '" + call->entry + "' for " + seconds(now - call->since) + ")";
}

IsolatedResult read_result(const std::filesystem::path &path) {
  std::ifstream in(path);
  nlohmann::json doc = nlohmann::json::parse(in, nullptr, false);
  if (!doc.is_object() || !doc.contains("result") || !doc["result"].is_string())
    return {"fail", "the clause process wrote an unreadable result"};
  return {doc["result"].get<std::string>(), doc.value("message", "")};
}

}  // namespace

IsolatedResult run_clause_process(const std::vector<std::string> &argv, const ClauseFiles &files,
                                  const IsolationLimits &limits) {
  const Clock::time_point started = Clock::now();
  pid_t pid = backend_common::spawn_process(argv, files.log);
  CallTraceReader trace(files.trace);
  std::optional<Clock::time_point> result_seen;
  std::string killed_because;
  int status = 0;
  // Reaps the process after killing what is left of its group (the unreaped leader keeps the
  // group id from being reused meanwhile).
  auto reap = [&] {
    ::kill(-pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  };
  for (;;) {
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
        info.si_pid == pid) {
      reap();
      break;
    }
    const Clock::time_point now = Clock::now();
    trace.poll();
    if (!result_seen && std::filesystem::exists(files.result)) result_seen = now;
    auto call = trace.oldest();
    if (result_seen && now - *result_seen > limits.exit_grace) {
      killed_because = "the clause finished but its process did not exit within " +
                       seconds(limits.exit_grace) +
                       " (a thread the plugin started still runs, or an entry blocks at exit)" +
                       in_entry(trace, now);
    } else if (call && now - call->since > limits.call_timeout) {
      killed_because = "plugin entry '" + call->entry + "' did not return within " +
                       seconds(limits.call_timeout) + "; the clause process was killed";
    } else if (now - started > limits.clause_timeout) {
      killed_because = "the clause did not finish within " + seconds(limits.clause_timeout) +
                       in_entry(trace, now) + "; the clause process was killed";
    }
    if (!killed_because.empty()) {
      reap();
      return {"fail", killed_because + output_tail(files.log), false};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  trace.poll();
  if (WIFSIGNALED(status)) {
    const int signal = WTERMSIG(status);
    return {"fail",
            std::string("the clause process died of signal ") + std::to_string(signal) + " (" +
                ::strsignal(signal) + ") after " + seconds(Clock::now() - started) +
                in_entry(trace, Clock::now()) + output_tail(files.log),
            false};
  }
  if (!std::filesystem::exists(files.result)) {
    return {"fail",
            "the clause process exited with status " + std::to_string(WEXITSTATUS(status)) +
                " without a result" + in_entry(trace, Clock::now()) + output_tail(files.log),
            false};
  }
  return read_result(files.result);
}

nlohmann::json result_json(const IsolatedResult &result) {
  return {{"result", result.result}, {"message", result.message}};
}

std::size_t thread_count() {
  std::size_t count = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/self/task", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++count;
  }
  return count;
}

}  // namespace hal::conformance
