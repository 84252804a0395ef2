// qmp_test_client.cc - the tests' synchronous QMP client (see qmp_test_client.h).
#include "testing/qmp_test_client.h"

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/write.hpp>
#include <stdexcept>
#include <thread>

namespace hal::testing {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

QmpTestClient::QmpTestClient() : socket_(io_) {}

QmpTestClient::~QmpTestClient() {
  boost::system::error_code ignored;
  socket_.close(ignored);
}

std::unique_ptr<QmpTestClient> QmpTestClient::connect(const std::filesystem::path &socket_path,
                                                      std::chrono::milliseconds timeout) {
  std::unique_ptr<QmpTestClient> client(new QmpTestClient());
  const auto deadline = Clock::now() + timeout;
  const asio::local::stream_protocol::endpoint endpoint(socket_path.string());
  for (;;) {
    boost::system::error_code ec;
    client->socket_.connect(endpoint, ec);
    if (!ec) break;
    boost::system::error_code ignored;
    client->socket_.close(ignored);
    const bool retryable = ec == asio::error::connection_refused ||
                           ec == boost::system::errc::no_such_file_or_directory;
    if (!retryable || Clock::now() >= deadline) {
      throw std::runtime_error("cannot connect to QMP socket " + socket_path.string() + ": " +
                               ec.message());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const nlohmann::json greeting = client->read_message(deadline);
  if (!greeting.contains("QMP")) {
    throw std::runtime_error("no QMP greeting on " + socket_path.string() + ": " + greeting.dump());
  }
  const nlohmann::json &qemu = greeting["QMP"]["version"]["qemu"];
  client->qemu_version_ = std::to_string(qemu.value("major", 0)) + "." +
                          std::to_string(qemu.value("minor", 0)) + "." +
                          std::to_string(qemu.value("micro", 0));
  client->execute(
      "qmp_capabilities", nullptr,
      std::max(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()),
               std::chrono::milliseconds(1)));
  return client;
}

nlohmann::json QmpTestClient::execute(const std::string &command, const nlohmann::json &arguments,
                                      std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  nlohmann::json request = {{"execute", command}};
  if (!arguments.is_null()) request["arguments"] = arguments;
  const std::string line = request.dump() + "\n";
  boost::system::error_code ec;
  asio::write(socket_, asio::buffer(line), ec);
  if (ec) throw std::runtime_error("QMP " + command + ": write failed: " + ec.message());
  for (;;) {
    nlohmann::json reply = read_message(deadline);
    if (reply.contains("event")) continue;
    if (reply.contains("error")) {
      const nlohmann::json &error = reply["error"];
      throw std::runtime_error("QMP " + command + ": " + error.value("class", "") + ": " +
                               error.value("desc", ""));
    }
    if (reply.contains("return")) return reply["return"];
    throw std::runtime_error("QMP " + command + ": unexpected reply " + reply.dump());
  }
}

nlohmann::json QmpTestClient::read_message(Clock::time_point deadline) {
  for (;;) {
    if (const size_t newline = buffer_.find('\n'); newline != std::string::npos) {
      const std::string line = buffer_.substr(0, newline);
      buffer_.erase(0, newline + 1);
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      nlohmann::json message = nlohmann::json::parse(line, nullptr, false);
      if (message.is_discarded()) throw std::runtime_error("QMP: not JSON: " + line);
      return message;
    }
    bool done = false;
    boost::system::error_code ec;
    size_t read = 0;
    socket_.async_read_some(asio::buffer(chunk_), [&](boost::system::error_code e, size_t n) {
      ec = e;
      read = n;
      done = true;
    });
    io_.restart();
    io_.run_until(deadline);
    if (!done) {
      boost::system::error_code ignored;
      socket_.cancel(ignored);
      io_.restart();
      io_.run();  // lets the cancelled read complete
      throw std::runtime_error("QMP: no reply in time");
    }
    if (ec) {
      throw std::runtime_error(ec == asio::error::eof ? "QMP: connection closed by QEMU"
                                                      : "QMP: read failed: " + ec.message());
    }
    buffer_.append(chunk_.data(), read);
  }
}

}  // namespace hal::testing
