// transport_error.h - halctl's report of a failed call: the server's status, and for a call
// that never reached the server because TLS failed (the server's certificate is not from the
// configured CA, the server refused our certificate, a certificate expired, one side speaks
// plaintext) a line saying which, with the files involved.
#ifndef HAL_CONTROLLER_HALCTL_TRANSPORT_ERROR_H
#define HAL_CONTROLLER_HALCTL_TRANSPORT_ERROR_H

#include <optional>
#include <string>

#include "controller/halctl/client.h"
#include "controller/halctl/config.h"
#include "controller/halctl/halctl.h"

namespace hal::halctl {

/** What a failed connection's gRPC message says went wrong with TLS over `connection`, or
 *  nullopt when it does not look like a TLS failure. */
std::optional<std::string> explain_transport_error(const std::string &grpc_message,
                                                   const Connection &connection);

/** Writes "Error from server (CODE): message" to io.err, then the explanation when there is
 *  one. */
void report_server_error(const ServerError &error, const Connection &connection, Io &io);

}  // namespace hal::halctl

#endif  // HAL_CONTROLLER_HALCTL_TRANSPORT_ERROR_H
