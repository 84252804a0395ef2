// api_server.cc - HTTP server of the emulator (see api_server.h).
#include "backends/cloud-hypervisor/emulator/api_server.h"

#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <iostream>
#include <thread>

namespace hal::ch_emulator {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using local = asio::local::stream_protocol;

namespace {
void serve_connection(local::socket socket, Vmm &vmm, bool verbose) {
  beast::flat_buffer buffer;
  for (;;) {
    beast::error_code ec;
    http::request_parser<http::string_body> parser;
    parser.body_limit(4u << 20);
    http::read(socket, buffer, parser, ec);
    if (ec) return;  // closed, or garbage: drop the connection
    const auto &req = parser.get();
    const std::string target(req.target());
    const std::string prefix = "/api/v1/";
    ApiResponse answer;
    if (target.rfind(prefix, 0) != 0) {
      answer = {404, R"(["Not Found"])"};
    } else if (req.method() != http::verb::get && req.method() != http::verb::put) {
      answer = {400, ""};  // the VMM's routes know PUT and GET; anything else: 400, no body
    } else {
      answer = vmm.handle(req.method() == http::verb::get ? "GET" : "PUT",
                          target.substr(prefix.size()), req.body());
    }
    if (verbose) {
      std::cerr << "hal-ch-emulator: " << req.method_string() << " " << target << " -> "
                << answer.status << "\n";
    }
    http::response<http::string_body> res{static_cast<http::status>(answer.status), req.version()};
    res.set(http::field::server, "hal-ch-emulator");
    if (!answer.body.empty()) res.set(http::field::content_type, "application/json");
    res.body() = answer.body;
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    http::write(socket, res, ec);
    if (ec || !res.keep_alive()) return;
  }
}
}  // namespace

void serve_api(const std::string &path, Vmm &vmm, bool verbose) {
  asio::io_context io;
  ::unlink(path.c_str());
  local::acceptor acceptor(io, local::endpoint(path));
  ::chmod(path.c_str(), 0600);
  for (;;) {
    local::socket socket(io);
    beast::error_code ec;
    acceptor.accept(socket, ec);
    if (ec) continue;
    std::thread(serve_connection, std::move(socket), std::ref(vmm), verbose).detach();
  }
}

}  // namespace hal::ch_emulator
