// advertised_address.h - the NodeAgent address a hal-node registers, which the controller
// dials. By default it is the listen address; an agent that listens on a wildcard address
// (0.0.0.0, [::]) must say with --advertise how other hosts reach it.
#ifndef HAL_CONTROLLER_NODE_ADVERTISED_ADDRESS_H
#define HAL_CONTROLLER_NODE_ADVERTISED_ADDRESS_H

#include <string>

namespace hal::node {

/** The address to register for an agent bound to `port`: `advertise` ("host" or "host:port";
 *  without a port, the bound one) or, when that is empty, `listen`'s host with the bound port
 *  (127.0.0.1 for a wildcard host). Throws hal::Error(HAL_INVALID_ARGUMENT) naming --advertise
 *  when it is not a dialable host[:port]. */
std::string advertised_address(const std::string &listen, const std::string &advertise, int port);

/** Whether `listen`'s host is a wildcard (empty, 0.0.0.0 or [::]), which no other host dials. */
bool is_wildcard_listen(const std::string &listen);

}  // namespace hal::node

#endif  // HAL_CONTROLLER_NODE_ADVERTISED_ADDRESS_H
