// node_process.cc - spawning and stopping hal-node for integration tests (see node_process.h).
#include "controller/node/tests/node_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char **environ;

namespace hal::node::testing {
namespace {

std::string read_file(const std::filesystem::path &path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

bool process_alive(pid_t pid) {
  if (pid <= 0 || ::kill(pid, 0) != 0) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  auto close_paren = line.rfind(')');
  return close_paren == std::string::npos || close_paren + 2 >= line.size() ||
         line[close_paren + 2] != 'Z';
}

NodeProcess::NodeProcess(const std::string &binary, const std::vector<std::string> &args,
                         const std::filesystem::path &stderr_file,
                         std::chrono::milliseconds timeout)
    : stderr_file_(stderr_file) {
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_addopen(&actions, 2, stderr_file.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0600);
  std::vector<std::string> all = {binary};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char *> argv;
  for (std::string &arg : all) argv.push_back(arg.data());
  argv.push_back(nullptr);
  int rc = ::posix_spawn(&pid_, binary.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);
  if (rc != 0) {
    ::close(out[0]);
    throw std::runtime_error("posix_spawn " + binary + " failed: " + std::to_string(rc));
  }
  stdout_fd_ = out[0];
  const std::string marker = "hal-node: listening on ";
  std::string text;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd fd{stdout_fd_, POLLIN, 0};
    if (::poll(&fd, 1, 100) <= 0) continue;
    char buffer[512];
    ssize_t n = ::read(stdout_fd_, buffer, sizeof buffer);
    if (n <= 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
    auto at = text.find(marker);
    auto eol = at == std::string::npos ? std::string::npos : text.find('\n', at);
    if (eol != std::string::npos) {
      address_ = text.substr(at + marker.size(), eol - at - marker.size());
      return;
    }
  }
  signal_and_wait(SIGKILL, std::chrono::milliseconds(5000));
  throw std::runtime_error("hal-node did not start; stdout: " + text +
                           "; stderr: " + read_file(stderr_file));
}

NodeProcess::~NodeProcess() {
  if (pid_ > 0) signal_and_wait(SIGKILL, std::chrono::milliseconds(5000));
  if (stdout_fd_ >= 0) ::close(stdout_fd_);
}

std::optional<int> NodeProcess::signal_and_wait(int signal, std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return std::nullopt;
  ::kill(pid_, signal);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    pid_t done = ::waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      pid_ = -1;
      return status;
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace hal::node::testing
