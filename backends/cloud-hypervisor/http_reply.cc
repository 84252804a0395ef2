// http_reply.cc - HTTP reply parsing and status mapping (see http_reply.h).
#include "backends/cloud-hypervisor/http_reply.h"

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <nlohmann/json.hpp>

namespace hal::cloud_hypervisor {
namespace http = boost::beast::http;

std::optional<HttpReply> parse_http_reply(std::string_view raw, std::string *error,
                                          size_t max_body) {
  http::response_parser<http::string_body> parser;
  // Not eager until the header is checked: an eager Boost 1.74 parser goes on into the body
  // after its own body_limit error and reserves the whole Content-Length (a fuzzer found a
  // reply that asked for 417 PB).
  parser.eager(false);
  parser.body_limit(max_body);
  parser.header_limit(64 * 1024);
  boost::beast::error_code ec;
  size_t offset = 0;
  while (offset < raw.size() && !parser.is_done()) {
    size_t used = parser.put(boost::asio::buffer(raw.data() + offset, raw.size() - offset), ec);
    if (ec == http::error::need_more) {
      ec = {};
      break;
    }
    if (ec) break;
    if (parser.is_header_done() && !parser.eager()) {
      if (auto length = parser.content_length(); length && *length > max_body) {
        ec = http::error::body_limit;
        break;
      }
      parser.eager(true);
    }
    if (used == 0) break;
    offset += used;
  }
  if (!ec && !parser.is_done() && parser.is_header_done()) {
    // A reply without Content-Length ends with the connection.
    parser.put_eof(ec);
  }
  if (ec || !parser.is_done()) {
    if (error != nullptr) {
      *error = ec ? ec.message() : std::string("truncated HTTP reply");
    }
    return std::nullopt;
  }
  HttpReply reply;
  reply.status = static_cast<int>(parser.get().result_int());
  reply.body = std::move(parser.get().body());
  return reply;
}

namespace {
std::string clean(std::string text) {
  for (char &c : text) {
    if (static_cast<unsigned char>(c) < 0x20 && c != '\n') c = ' ';
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\n')) text.pop_back();
  if (text.size() > 400) text = text.substr(0, 397) + "...";
  return text;
}
}  // namespace

std::string api_error_message(std::string_view body) {
  nlohmann::json doc = nlohmann::json::parse(body, nullptr, false);
  if (!doc.is_discarded()) {
    if (doc.is_array()) {
      std::string joined;
      for (const auto &item : doc) {
        if (!item.is_string()) continue;
        if (!joined.empty()) joined += ": ";
        joined += item.get<std::string>();
      }
      if (!joined.empty()) return clean(joined);
    } else if (doc.is_object()) {
      for (const char *key : {"message", "error"}) {
        if (doc.contains(key) && doc[key].is_string()) return clean(doc[key].get<std::string>());
      }
    } else if (doc.is_string()) {
      return clean(doc.get<std::string>());
    }
  }
  std::string text = clean(std::string(body));
  return text.empty() ? std::string("(no message)") : text;
}

hal_status hal_status_for_reply(int http_status, std::string_view message) {
  if (http_status >= 200 && http_status < 300) return HAL_OK;
  if (http_status == 400) return HAL_INVALID_ARGUMENT;
  if (http_status == 404) return HAL_NOT_FOUND;
  if (http_status == 429) return HAL_ABORTED;
  auto says = [&](std::string_view what) { return message.find(what) != std::string_view::npos; };
  for (std::string_view state :
       {"VM is not running", "Invalid transition", "invalid VM state transition",
        "currently migrating", "already created", "ongoing migration", "VM is not booted"}) {
    if (says(state)) return HAL_FAILED_PRECONDITION;
  }
  if (says("is not unique")) return HAL_ALREADY_EXISTS;
  if (says("No device with id")) return HAL_NOT_FOUND;
  if (says("Failed to validate config")) return HAL_INVALID_ARGUMENT;
  return HAL_UNKNOWN;
}

}  // namespace hal::cloud_hypervisor
