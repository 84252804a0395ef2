// advertised_address.cc - parses --advertise and derives the registered NodeAgent address.
#include "controller/node/advertised_address.h"

#include <algorithm>
#include <cctype>
#include <optional>

#include "hal/host.hpp"

namespace hal::node {

namespace {

struct HostPort {
  std::string host;
  std::string port;  // empty when not given
};

// Splits "host", "host:port", "[v6]" or "[v6]:port"; nullopt when it is none of them.
std::optional<HostPort> split(const std::string &address) {
  if (!address.empty() && address.front() == '[') {
    auto close = address.find(']');
    if (close == std::string::npos) return std::nullopt;
    HostPort parts{address.substr(0, close + 1), ""};
    if (close + 1 == address.size()) return parts;
    if (address[close + 1] != ':') return std::nullopt;
    parts.port = address.substr(close + 2);
    return parts;
  }
  auto colon = address.find(':');
  if (colon == std::string::npos) return HostPort{address, ""};
  if (address.find(':', colon + 1) != std::string::npos) return std::nullopt;  // bare IPv6
  return HostPort{address.substr(0, colon), address.substr(colon + 1)};
}

bool is_wildcard_host(const std::string &host) {
  return host.empty() || host == "0.0.0.0" || host == "[::]" || host == "::";
}

bool valid_port(const std::string &port) {
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](unsigned char c) { return std::isdigit(c); }))
    return false;
  const int value = std::stoi(port);
  return value >= 1 && value <= 65535;
}

std::string listen_host(const std::string &listen) {
  auto colon = listen.rfind(':');
  return colon == std::string::npos ? listen : listen.substr(0, colon);
}

}  // namespace

bool is_wildcard_listen(const std::string &listen) {
  return is_wildcard_host(listen_host(listen));
}

std::string advertised_address(const std::string &listen, const std::string &advertise, int port) {
  if (advertise.empty()) {
    const std::string host = listen_host(listen);
    return (is_wildcard_host(host) ? std::string("127.0.0.1") : host) + ":" + std::to_string(port);
  }
  auto parts = split(advertise);
  if (!parts || parts->host.empty())
    throw Error(HAL_INVALID_ARGUMENT,
                "--advertise: expected HOST or HOST:PORT (IPv6 in "
                "brackets), got '" +
                    advertise + "'");
  if (is_wildcard_host(parts->host))
    throw Error(HAL_INVALID_ARGUMENT, "--advertise: '" + advertise +
                                          "' is a wildcard address; give one the controller "
                                          "can dial");
  if (parts->port.empty()) return parts->host + ":" + std::to_string(port);
  if (!valid_port(parts->port))
    throw Error(HAL_INVALID_ARGUMENT,
                "--advertise: port '" + parts->port + "' is not a number from 1 to 65535");
  return parts->host + ":" + parts->port;
}

std::string migration_listen_uri(const std::string &listen) {
  const std::string host = listen_host(listen);
  return "tcp:" + (host.empty() ? std::string("0.0.0.0") : host) + ":0";
}

std::string dialable_migration_endpoint(const std::string &endpoint,
                                        const std::string &advertised) {
  if (endpoint.rfind("tcp:", 0) != 0) return endpoint;
  const std::string address = endpoint.substr(4);
  auto colon = address.rfind(':');
  if (colon == std::string::npos || !is_wildcard_host(address.substr(0, colon))) return endpoint;
  auto registered = split(advertised);
  if (!registered || registered->host.empty()) return endpoint;
  return "tcp:" + registered->host + address.substr(colon);
}

}  // namespace hal::node
