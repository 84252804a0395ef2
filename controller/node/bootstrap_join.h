// bootstrap_join.h - a node without a certificate joins the cluster: it makes its own key and a
// certificate request, sends them with its bootstrap token to the controller's NodeBootstrap
// endpoint (trusting only the cluster CA it was given), and writes the signed node certificate
// and the key (0600) where --tls-cert and --tls-key name them.
#ifndef HAL_CONTROLLER_NODE_BOOTSTRAP_JOIN_H
#define HAL_CONTROLLER_NODE_BOOTSTRAP_JOIN_H

#include <string>

#include "controller/node/agent_options.h"

namespace hal::node {

/** Joins through `options.bootstrap_server` with `options.bootstrap_token` when the files of
 *  options.tls.cert_file/key_file do not exist yet (they are kept otherwise). The certificate
 *  names the host the controller dials (the advertised address). Throws std::runtime_error with
 *  the controller's reason when the join is refused. */
void join_if_needed(const NodeAgentOptions &options);

}  // namespace hal::node

#endif  // HAL_CONTROLLER_NODE_BOOTSTRAP_JOIN_H
