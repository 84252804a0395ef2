// console_bridge.cc - serial console <-> gRPC stream bridge (see console_bridge.h).
#include "controller/node/console_bridge.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "controller/node/node_service.h"
#include "controller/node/wire.h"
#include "core/log/log.h"

namespace hal::node {
namespace {

// Closes a file descriptor on scope exit.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// Writes all of `data` to `fd` (blocking); false on error.
bool write_all(int fd, const std::string &data) {
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

int open_console_endpoint(const nlohmann::json &endpoint) {
  const std::string type = endpoint.value("type", "");
  const std::string path = endpoint.value("path", "");
  if (path.empty())
    throw Error(HAL_UNAVAILABLE, "console endpoint has no path: " + endpoint.dump());
  if (type == "unix") {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path)
      throw Error(HAL_UNAVAILABLE, "console socket path too long: " + path);
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw Error(HAL_UNAVAILABLE, std::string("console socket: ") + strerror(errno));
    if (::connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0) {
      int err = errno;
      ::close(fd);
      throw Error(HAL_UNAVAILABLE, "cannot connect to console " + path + ": " + strerror(err));
    }
    return fd;
  }
  if (type == "pty") {
    int fd = ::open(path.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
      throw Error(HAL_UNAVAILABLE, "cannot open console " + path + ": " + strerror(errno));
    return fd;
  }
  throw Error(HAL_UNSUPPORTED, "console endpoint type '" + type + "' is not supported by hal-node");
}

grpc::Status bridge_console(grpc::ServerContext *context,
                            grpc::ServerReaderWriter<v1::ConsoleChunk, v1::ConsoleChunk> *stream,
                            VmDirectory &vms, const std::atomic<bool> &stopping) {
  v1::ConsoleChunk first;
  if (!stream->Read(&first))
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "vm_id: the first Console message must name the VM");
  if (first.vm_id().empty())
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "vm_id: the first Console message must name the VM");
  Fd console;
  std::string vm_id = first.vm_id();
  grpc::Status opened = guarded("Console", [&] {
    auto [backend, vm] = vms.open(vm_id);
    nlohmann::json endpoint;
    try {
      endpoint = vm.console();
    } catch (const Error &e) {
      if (e.status() == HAL_UNSUPPORTED)
        throw Error(HAL_UNSUPPORTED, "VM '" + vm_id + "' on backend " + backend->name +
                                         " has no console: " + e.what());
      throw;
    }
    console.fd = open_console_endpoint(endpoint);
    return grpc::Status::OK;
  });
  if (!opened.ok()) return opened;
  if (!first.data().empty() && !write_all(console.fd, first.data()))
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "console of '" + vm_id + "' closed");
  // Attached: an empty first message tells the caller (the controller's relay) the console is
  // open before the guest writes anything.
  v1::ConsoleChunk attached;
  attached.set_vm_id(vm_id);
  if (!stream->Write(attached)) return grpc::Status::OK;  // The caller is gone.

  int wake[2];
  if (::pipe2(wake, O_CLOEXEC) != 0)
    return grpc::Status(grpc::StatusCode::INTERNAL, std::string("pipe: ") + strerror(errno));
  Fd wake_read{wake[0]}, wake_write{wake[1]};
  std::atomic<bool> console_closed{false};
  // Console -> client. Only this thread writes to the stream.
  std::thread pump([&] {
    char buffer[4096];
    pollfd fds[2] = {{console.fd, POLLIN, 0}, {wake_read.fd, POLLIN, 0}};
    while (true) {
      int ready = ::poll(fds, 2, 200);
      if (ready < 0 && errno == EINTR) continue;
      if (ready < 0 || (fds[1].revents & POLLIN)) break;
      if (stopping.load() || context->IsCancelled()) {
        console_closed = true;
        break;
      }
      if (ready == 0) continue;
      ssize_t n = ::read(console.fd, buffer, sizeof buffer);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) {
        console_closed = true;
        break;
      }
      v1::ConsoleChunk chunk;
      chunk.set_vm_id(vm_id);
      chunk.set_data(buffer, static_cast<std::size_t>(n));
      if (!stream->Write(chunk)) break;
    }
    // The console (or the agent) ended the session: unblock the Read below.
    if (console_closed) context->TryCancel();
  });
  // Client -> console.
  grpc::Status result = grpc::Status::OK;
  v1::ConsoleChunk chunk;
  while (stream->Read(&chunk)) {
    if (!chunk.data().empty() && !write_all(console.fd, chunk.data())) {
      result = grpc::Status(grpc::StatusCode::UNAVAILABLE, "console of '" + vm_id + "' closed");
      break;
    }
  }
  ::shutdown(console.fd, SHUT_RDWR);
  char one = 1;
  (void)!::write(wake_write.fd, &one, 1);
  pump.join();
  if (console_closed)
    result = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "console of '" + vm_id + "' closed (VM stopped or agent stopping)");
  return result;
}

grpc::Status NodeAgentService::Console(
    grpc::ServerContext *context,
    grpc::ServerReaderWriter<v1::ConsoleChunk, v1::ConsoleChunk> *stream) {
  // Users reach a console only through the controller, which authorises them and relays the
  // session (Controller.Console); a node serves nobody else.
  if (grpc::Status denied = controller_only(*context, "Console"); !denied.ok()) return denied;
  return bridge_console(context, stream, *ctx_.vms, *ctx_.stopping);
}

}  // namespace hal::node
