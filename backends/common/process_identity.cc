// process_identity.cc - /proc/PID/cmdline checks for re-adoption (see process_identity.h).
#include "backends/common/process_identity.h"

#include <signal.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "backends/common/state_files.h"

namespace hal::backend_common {
namespace fs = std::filesystem;

std::vector<std::string> process_cmdline(pid_t pid) {
  std::vector<std::string> args;
  auto text = read_file(fs::path("/proc") / std::to_string(pid) / "cmdline");
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

bool is_our_process(pid_t pid, const std::string &binary, const std::string &marker) {
  if (pid <= 1 || ::kill(pid, 0) != 0) return false;
  std::vector<std::string> args = process_cmdline(pid);
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

FoundProcess find_process(const StateDir &dir, const std::string &binary,
                          const std::string &marker) {
  const std::optional<pid_t> pid = dir.read_pid();
  if (!pid) return {};
  if (is_our_process(*pid, binary, marker)) return {FoundProcess::Kind::kOurs, *pid};
  std::error_code ec;
  fs::remove(dir.pidfile(), ec);
  return {FoundProcess::Kind::kGone, *pid};
}

}  // namespace hal::backend_common
