// node_credentials.h - the controller's credentials for dialling one node: mutual TLS as
// channel_credentials, but the server must present that node's own certificate (CN
// system:node:NAME in group system:nodes), not merely any certificate of the cluster CA valid
// for the address. A node registers its NodeAgent address itself; without this check a node
// could register another node's address under its own name and have the controller call that
// node on its behalf (e.g. delete the other node's VMs as its own orphans).
#ifndef HAL_CONTROLLER_TLS_NODE_CREDENTIALS_H
#define HAL_CONTROLLER_TLS_NODE_CREDENTIALS_H

#include <grpcpp/security/credentials.h>

#include <functional>
#include <memory>
#include <string>

#include "controller/tls/tls_options.h"

namespace hal::tls {

/** Makes the channel credentials for one node by name. */
using NodeCredentials =
    std::function<std::shared_ptr<grpc::ChannelCredentials>(const std::string &node_name)>;

/** The maker for `options` (read and checked now, as channel_credentials does; throws
 *  CredentialsError): each node's credentials accept only that node's serving certificate.
 *  Insecure options give plaintext for every node. */
NodeCredentials node_channel_credentials(const TlsOptions &options);

}  // namespace hal::tls

#endif  // HAL_CONTROLLER_TLS_NODE_CREDENTIALS_H
