// ref_console.cc - the reference plugin's simulated consoles (see ref_console.h).
#include "ref_console.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace ref {

ConsoleService::ConsoleService(std::function<void()> tick, std::chrono::milliseconds period)
    : tick_(std::move(tick)), period_(period) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "hal-ref-console-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("console: mkdtemp failed");
  dir_ = tmpl;
  if (::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) throw std::runtime_error("console: pipe failed");
  thread_ = std::thread([this] { run(); });
}

ConsoleService::~ConsoleService() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  (void)!::write(wake_[1], "x", 1);
  thread_.join();
  for (auto &[vm, console] : consoles_) close_console(console);
  ::close(wake_[0]);
  ::close(wake_[1]);
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string ConsoleService::path(const std::string &vm) {
  const std::string file = dir_ + "/" + std::to_string(std::hash<std::string>{}(vm)) + ".sock";
  std::lock_guard lock(mu_);
  Console &console = consoles_[vm];
  if (console.listener >= 0) return file;
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, file.c_str(), sizeof(addr.sun_path) - 1);
  ::unlink(file.c_str());
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0 ||
      ::listen(fd, 8) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error("console: cannot listen on " + file);
  }
  console.listener = fd;
  (void)!::write(wake_[1], "x", 1);  // the thread polls the new listener from now on
  return file;
}

void ConsoleService::write(const std::string &vm, const std::string &line) {
  std::lock_guard lock(mu_);
  auto it = consoles_.find(vm);
  if (it == consoles_.end()) return;
  const std::string data = line + "\r\n";
  for (int fd : it->second.clients) {
    (void)!::send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  }
}

void ConsoleService::set_greeting(const std::string &vm, std::vector<std::string> lines) {
  std::lock_guard lock(mu_);
  consoles_[vm].greeting = std::move(lines);
}

void ConsoleService::remove(const std::string &vm) {
  std::lock_guard lock(mu_);
  auto it = consoles_.find(vm);
  if (it == consoles_.end()) return;
  close_console(it->second);
  consoles_.erase(it);
}

void ConsoleService::close_console(Console &console) {
  if (console.listener >= 0) ::close(console.listener);
  for (int fd : console.clients) ::close(fd);
  console.listener = -1;
  console.clients.clear();
}

void ConsoleService::accept_clients(Console &console) {
  for (;;) {
    int fd = ::accept4(console.listener, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) return;
    for (const std::string &line : console.greeting) {
      const std::string data = line + "\r\n";
      (void)!::send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    console.clients.push_back(fd);
  }
}

void ConsoleService::run() {
  auto next_tick = std::chrono::steady_clock::now() + period_;
  for (;;) {
    std::vector<pollfd> fds = {{wake_[0], POLLIN, 0}};
    {
      std::lock_guard lock(mu_);
      for (auto &[vm, console] : consoles_) {
        if (console.listener >= 0) fds.push_back({console.listener, POLLIN, 0});
      }
    }
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
        next_tick - std::chrono::steady_clock::now());
    ::poll(fds.data(), fds.size(), static_cast<int>(std::max<int64_t>(0, wait.count())));
    if (fds[0].revents != 0) {
      char buf[64];
      while (::read(wake_[0], buf, sizeof buf) > 0) {
      }
    }
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      for (auto &[vm, console] : consoles_) {
        if (console.listener >= 0) accept_clients(console);
      }
    }
    if (std::chrono::steady_clock::now() >= next_tick) {
      tick_();
      next_tick += period_;
    }
  }
}

}  // namespace ref
