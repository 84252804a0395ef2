// console.cc - `halctl console NAME`: streams Controller.Console between the terminal and the
// guest's serial console; the controller authorises the session and relays it to the VM's node
// (halctl never dials a node). On a TTY the terminal is put in raw mode and Ctrl-] detaches;
// otherwise stdin/stdout are piped as they are (for scripts), and --timeout detaches after that
// many seconds.
#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <ostream>
#include <thread>

#include "controller/halctl/client.h"
#include "controller/halctl/halctl.h"

namespace hal::halctl {

namespace {

constexpr char kEscape = 0x1d;  // Ctrl-]

// Restores the terminal's settings when it goes out of scope.
class RawTerminal {
 public:
  explicit RawTerminal(int fd) : fd_(fd) {
    if (isatty(fd_) == 0 || tcgetattr(fd_, &saved_) != 0) return;
    termios raw = saved_;
    cfmakeraw(&raw);
    active_ = tcsetattr(fd_, TCSANOW, &raw) == 0;
  }
  ~RawTerminal() {
    if (active_) tcsetattr(fd_, TCSANOW, &saved_);
  }
  RawTerminal(const RawTerminal &) = delete;
  RawTerminal &operator=(const RawTerminal &) = delete;
  bool active() const { return active_; }

 private:
  int fd_;
  termios saved_{};
  bool active_ = false;
};

void write_all(int fd, const std::string &data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

}  // namespace

int run_console(const std::string &server,
                const std::shared_ptr<grpc::ChannelCredentials> &credentials, const std::string &ns,
                const std::string &name, double timeout_s, Io &io) {
  ControllerClient client(server, credentials);
  grpc::ClientContext context;
  const auto start = std::chrono::steady_clock::now();
  const auto limit = std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000));
  if (timeout_s > 0) context.set_deadline(std::chrono::system_clock::now() + limit);
  auto stream = client.console(context);
  auto failed = [&] {
    grpc::Status status = stream->Finish();
    io.err << "Error from server (" << status_code_name(status.error_code())
           << "): " << status.error_message() << "\n";
    return 1;
  };
  hal::v1::ConsoleInput first;
  first.set_namespace_(ns);
  first.set_name(name);
  if (!stream->Write(first)) return failed();
  // The controller's first message (no data) says the node opened the console; a refusal
  // (unauthorised, not running, not on its node) ends the call instead.
  hal::v1::ConsoleOutput attached;
  if (!stream->Read(&attached)) return failed();
  write_all(io.console_out_fd, attached.data());

  RawTerminal raw(io.console_in_fd);
  if (raw.active()) {
    io.err << "Successfully connected to " << name << " console. The escape sequence is ^]\r\n"
           << std::flush;
  }
  std::atomic<bool> ended{false};
  std::thread reader([&] {
    hal::v1::ConsoleOutput chunk;
    while (stream->Read(&chunk)) write_all(io.console_out_fd, chunk.data());
    ended = true;
  });

  bool input_open = true;
  bool detached = false;
  while (!ended) {
    if (timeout_s > 0 && std::chrono::steady_clock::now() - start >= limit) break;
    if (!input_open) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    pollfd pfd{io.console_in_fd, POLLIN, 0};
    int ready = ::poll(&pfd, 1, 50);
    if (ready <= 0) continue;
    char buffer[4096];
    ssize_t n = ::read(io.console_in_fd, buffer, sizeof buffer);
    if (n <= 0) {
      input_open = false;
      stream->WritesDone();
      continue;
    }
    std::string data(buffer, static_cast<size_t>(n));
    if (raw.active()) {
      size_t escape = data.find(kEscape);
      if (escape != std::string::npos) {
        data.resize(escape);
        detached = true;
      }
    }
    if (!data.empty()) {
      hal::v1::ConsoleInput chunk;
      chunk.set_data(data);
      if (!stream->Write(chunk)) break;
    }
    if (detached) break;
  }
  // Detaching (escape, --timeout, a failed write) ends the call here. A call the node ended
  // keeps the node's status, which a cancel now would overwrite.
  if (!ended) context.TryCancel();
  reader.join();
  grpc::Status status = stream->Finish();
  if (raw.active()) io.err << "\r\n";
  if (!status.ok() && status.error_code() != grpc::StatusCode::CANCELLED &&
      status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
    io.err << "Error from server (" << status_code_name(status.error_code())
           << "): " << status.error_message() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace hal::halctl
