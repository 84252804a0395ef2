// advertised_address.h - the NodeAgent address a hal-node registers, which the controller
// dials. By default it is the listen address; an agent that listens on a wildcard address
// (0.0.0.0, [::]) must say with --advertise how other hosts reach it. Incoming live migrations
// listen on the same host as the NodeAgent service and are dialled at the advertised host.
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

/** Where a backend listens for an incoming live migration on an agent serving on `listen`:
 *  "tcp:HOST:0", HOST being `listen`'s host (0.0.0.0 when it has none), so migrations arrive on
 *  the network the agent serves and the backend picks the port. */
std::string migration_listen_uri(const std::string &listen);

/** The endpoint a source node dials: `endpoint` (a backend's "tcp:HOST:PORT" answer) with a
 *  wildcard HOST (0.0.0.0, ::) replaced by the host of `advertised` (the registered
 *  "host:port"); any other endpoint is returned as it is. */
std::string dialable_migration_endpoint(const std::string &endpoint, const std::string &advertised);

}  // namespace hal::node

#endif  // HAL_CONTROLLER_NODE_ADVERTISED_ADDRESS_H
