// plugin_fixture.cc - implementation of the integration-test helpers (see plugin_fixture.h).
#include "backends/kvm-qemu/tests/plugin_fixture.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "core/spec/embedded_schemas.h"
#include "core/spec/json_schema_validator.h"
#include "testing/child_process.h"

namespace hal::kvm_qemu::testing {
namespace fs = std::filesystem;

const hal::testing::PluginUnderTest &kvm_qemu_plugin() {
  return hal::testing::plugin_under_test(HAL_KVM_QEMU_PLUGIN);
}

const hal_backend_table &plugin_table() {
  return kvm_qemu_plugin().table();
}

ConsoleReader::ConsoleReader(const std::string &path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof address.sun_path) throw std::runtime_error("console path too long");
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (::connect(fd_, reinterpret_cast<sockaddr *>(&address), sizeof address) == 0) break;
    ::close(fd_);
    fd_ = -1;
    if (std::chrono::steady_clock::now() > deadline) {
      throw std::runtime_error("cannot connect to console " + path + ": " + std::strerror(errno));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  wake_ = ::eventfd(0, EFD_CLOEXEC);
  thread_ = std::thread([this] { run(); });
}

ConsoleReader::~ConsoleReader() {
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  ::close(wake_);
  ::close(fd_);
}

void ConsoleReader::run() {
  pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_, POLLIN, 0}};
  char buffer[4096];
  for (;;) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    ssize_t n = ::read(fd_, buffer, sizeof buffer);
    if (n <= 0) return;
    std::lock_guard<std::mutex> lock(mutex_);
    for (ssize_t i = 0; i < n; ++i) {
      char c = buffer[i];
      if (c == '\n') {
        lines_.push_back(partial_);
        partial_.clear();
      } else if (c != '\r') {
        partial_ += c;
      }
    }
    cv_.notify_all();
  }
}

std::optional<size_t> ConsoleReader::wait_for(const std::string &needle,
                                              std::chrono::milliseconds timeout, size_t from) {
  std::unique_lock<std::mutex> lock(mutex_);
  std::optional<size_t> found;
  cv_.wait_for(lock, timeout, [&] {
    for (size_t i = from; i < lines_.size(); ++i) {
      if (lines_[i].find(needle) != std::string::npos) {
        found = i;
        return true;
      }
    }
    return false;
  });
  return found;
}

std::string ConsoleReader::line(size_t index) {
  std::lock_guard<std::mutex> lock(mutex_);
  return index < lines_.size() ? lines_[index] : "";
}

size_t ConsoleReader::size() {
  std::lock_guard<std::mutex> lock(mutex_);
  return lines_.size();
}

std::string ConsoleReader::text() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  for (const std::string &l : lines_) out += l + "\n";
  return out + partial_;
}

QemuStateDir::QemuStateDir(const std::string &prefix) : dir_(prefix) {}

QemuStateDir::~QemuStateDir() {
  hal::testing::stop_pidfiles_under(dir_.path(), "qemu.pid", "qemu", std::chrono::milliseconds(0));
}

std::string schema_problems(const std::string &schema, const nlohmann::json &doc) {
  const nlohmann::json *document = embedded_schema(schema);
  if (document == nullptr) return "no embedded schema " + schema;
  JsonSchemaValidator validator(*document,
                                [](std::string_view name) { return embedded_schema(name); });
  std::string out;
  for (const FieldError &error : validator.validate(doc, "doc")) {
    out += error.path + ": " + error.message + "\n";
  }
  return out;
}

nlohmann::json call_json(const std::function<hal_status(char **, hal_error *)> &fn) {
  char *out = nullptr;
  hal_error error{};
  error.struct_size = sizeof error;
  hal_status status = fn(&out, &error);
  EXPECT_EQ(status, HAL_OK) << error.message;
  if (status != HAL_OK || out == nullptr) return nullptr;
  nlohmann::json doc = nlohmann::json::parse(out, nullptr, false);
  plugin_table().free_string(out);
  return doc;
}

}  // namespace hal::kvm_qemu::testing
