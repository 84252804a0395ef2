// ref_console.h - the reference plugin's simulated serial consoles: one unix socket per VM in a
// private directory, a greeting (the current boot's banner) sent to each new client, lines
// written to every connected client, and a periodic tick on the service's own thread (where the
// plugin prints heartbeats). The thread is joined when the service is destroyed, so a closed
// backend leaves no thread behind.
#ifndef HAL_CONFORMANCE_REF_CONSOLE_H
#define HAL_CONFORMANCE_REF_CONSOLE_H

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace ref {

/** Consoles of the VMs of one simulated host. */
class ConsoleService {
 public:
  /** Starts the thread; `tick` runs on it every `period` (without the service's lock held). */
  ConsoleService(std::function<void()> tick, std::chrono::milliseconds period);
  /** Stops the thread, closes every socket and removes the directory. */
  ~ConsoleService();
  ConsoleService(const ConsoleService &) = delete;
  ConsoleService &operator=(const ConsoleService &) = delete;

  /** The socket path of `vm`'s console, listening from the first call on. */
  std::string path(const std::string &vm);
  /** Sends `line` to every client of `vm`'s console (clients too slow to take it miss it). */
  void write(const std::string &vm, const std::string &line);
  /** Sets the lines each new client of `vm` receives first. */
  void set_greeting(const std::string &vm, std::vector<std::string> lines);
  /** Closes `vm`'s console and its clients. */
  void remove(const std::string &vm);

 private:
  struct Console {
    int listener = -1;
    std::vector<int> clients;
    std::vector<std::string> greeting;
  };
  void run();
  void accept_clients(Console &console);
  static void close_console(Console &console);

  std::function<void()> tick_;
  std::chrono::milliseconds period_;
  std::string dir_;
  int wake_[2] = {-1, -1};
  std::mutex mu_;
  std::map<std::string, Console> consoles_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace ref

#endif  // HAL_CONFORMANCE_REF_CONSOLE_H
