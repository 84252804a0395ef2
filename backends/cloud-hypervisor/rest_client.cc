// rest_client.cc - HTTP/1.1 over a Unix socket with Boost.Beast (see rest_client.h).
#include "backends/cloud-hypervisor/rest_client.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <filesystem>
#include <thread>

#include "hal/plugin.hpp"

namespace hal::cloud_hypervisor {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using hal::plugin::Failure;
using Stream = beast::basic_stream<asio::local::stream_protocol>;

HttpReply ChApiClient::call(std::string_view verb, std::string_view endpoint,
                            const std::string &body, std::chrono::milliseconds timeout) const {
  const std::string what = "cloud-hypervisor " + std::string(endpoint);
  asio::io_context io;
  Stream stream(io);
  beast::error_code ec;
  bool timed_out = false;
  auto fail = [&](const char *step) -> Failure {
    if (timed_out || ec == beast::error::timeout) {
      return Failure(HAL_DEADLINE_EXCEEDED,
                     what + ": no answer within " + std::to_string(timeout.count()) + " ms");
    }
    return Failure(HAL_UNAVAILABLE, what + ": " + step + " " + socket_path_ + ": " + ec.message());
  };
  stream.expires_after(timeout);
  stream.async_connect(asio::local::stream_protocol::endpoint(socket_path_),
                       [&](beast::error_code e) { ec = e; });
  io.run();
  if (ec) throw fail("cannot connect to API socket");
  io.restart();

  http::request<http::string_body> req{verb == "GET" ? http::verb::get : http::verb::put,
                                       "/api/v1/" + std::string(endpoint), 11};
  req.set(http::field::host, "localhost");
  req.set(http::field::accept, "application/json");
  if (!body.empty()) {
    req.set(http::field::content_type, "application/json");
    req.body() = body;
  }
  req.prepare_payload();
  http::async_write(stream, req, [&](beast::error_code e, size_t) { ec = e; });
  io.run();
  if (ec) throw fail("cannot send request on");
  io.restart();

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(16u << 20);
  http::async_read(stream, buffer, parser, [&](beast::error_code e, size_t) { ec = e; });
  io.run();
  if (ec) throw fail("malformed or missing reply from");
  HttpReply reply;
  reply.status = static_cast<int>(parser.get().result_int());
  reply.body = std::move(parser.get().body());
  beast::error_code ignored;
  stream.socket().shutdown(asio::socket_base::shutdown_both, ignored);
  return reply;
}

std::string ChApiClient::request(std::string_view verb, std::string_view endpoint,
                                 const nlohmann::json &body,
                                 std::chrono::milliseconds timeout) const {
  HttpReply reply = call(verb, endpoint, body.is_null() ? std::string() : body.dump(), timeout);
  if (!reply.ok()) {
    const std::string message = api_error_message(reply.body);
    throw Failure(hal_status_for_reply(reply.status, message),
                  "cloud-hypervisor " + std::string(endpoint) + ": HTTP " +
                      std::to_string(reply.status) + ": " + message);
  }
  return reply.body;
}

namespace {
nlohmann::json parse_object(const std::string &text, const char *endpoint) {
  nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    throw Failure(HAL_UNAVAILABLE,
                  std::string("cloud-hypervisor ") + endpoint + ": reply is not a JSON object");
  }
  return doc;
}
}  // namespace

nlohmann::json ChApiClient::ping(std::chrono::milliseconds timeout) const {
  return parse_object(request("GET", "vmm.ping", nullptr, timeout), "vmm.ping");
}
std::optional<nlohmann::json> ChApiClient::ping_until_served(
    const std::function<bool()> &give_up) const {
  while (!give_up()) {
    if (std::filesystem::exists(socket_path_)) {
      try {
        return ping(std::chrono::seconds(1));
      } catch (const std::exception &) {
        // Bound but not accepting yet, or not answering yet: try again.
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return std::nullopt;
}
void ChApiClient::create(const nlohmann::json &vm_config) const {
  request("PUT", "vm.create", vm_config);
}
void ChApiClient::boot() const {
  request("PUT", "vm.boot");
}
void ChApiClient::pause() const {
  request("PUT", "vm.pause");
}
void ChApiClient::resume() const {
  request("PUT", "vm.resume");
}
void ChApiClient::shutdown() const {
  request("PUT", "vm.shutdown");
}
void ChApiClient::reboot() const {
  request("PUT", "vm.reboot");
}
void ChApiClient::power_button() const {
  request("PUT", "vm.power-button");
}
void ChApiClient::remove() const {
  request("PUT", "vm.delete");
}
void ChApiClient::vmm_shutdown() const {
  request("PUT", "vmm.shutdown", nullptr, std::chrono::seconds(5));
}
nlohmann::json ChApiClient::info() const {
  nlohmann::json doc = parse_object(request("GET", "vm.info"), "vm.info");
  if (!doc.contains("state") || !doc["state"].is_string()) {
    throw Failure(HAL_UNAVAILABLE, "cloud-hypervisor vm.info: reply has no state");
  }
  return doc;
}
nlohmann::json ChApiClient::counters() const {
  return parse_object(request("GET", "vm.counters"), "vm.counters");
}
void ChApiClient::snapshot(const std::string &destination_url) const {
  request("PUT", "vm.snapshot", {{"destination_url", destination_url}}, std::chrono::minutes(5));
}
void ChApiClient::restore(const std::string &source_url) const {
  request("PUT", "vm.restore", {{"source_url", source_url}}, std::chrono::minutes(5));
}
void ChApiClient::send_migration(const nlohmann::json &data,
                                 std::chrono::milliseconds timeout) const {
  request("PUT", "vm.send-migration", data, timeout);
}
void ChApiClient::receive_migration(const nlohmann::json &data,
                                    std::chrono::milliseconds timeout) const {
  request("PUT", "vm.receive-migration", data, timeout);
}
nlohmann::json ChApiClient::add_disk(const nlohmann::json &disk_config) const {
  std::string body = request("PUT", "vm.add-disk", disk_config);
  return body.empty() ? nlohmann::json() : parse_object(body, "vm.add-disk");
}
nlohmann::json ChApiClient::add_net(const nlohmann::json &net_config) const {
  std::string body = request("PUT", "vm.add-net", net_config);
  return body.empty() ? nlohmann::json() : parse_object(body, "vm.add-net");
}
void ChApiClient::remove_device(const std::string &id) const {
  request("PUT", "vm.remove-device", {{"id", id}});
}

}  // namespace hal::cloud_hypervisor
