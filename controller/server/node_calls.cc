// node_calls.cc - granting calls to nodes: a connection from the registry and a call slot.
#include "controller/server/node_calls.h"

#include "controller/server/node_registry.h"

namespace hal::controller {

NodeCallClaim NodeCalls::claim(const std::string &node, const std::string &key) {
  auto connection = registry_.connection(node);
  if (!connection) return {};
  auto slot = slots_.try_claim(node, key);
  if (!slot) return {std::nullopt, true};
  return {NodeCall(std::move(connection), std::move(*slot), rpc_timeout_), false};
}

NodeCallClaim NodeCalls::wait(const std::string &node, const std::string &key,
                              std::chrono::milliseconds timeout) {
  auto connection = registry_.connection(node);
  if (!connection) return {};
  auto slot = slots_.claim_within(node, key, timeout);
  if (!slot) return {std::nullopt, true};
  return {NodeCall(std::move(connection), std::move(*slot), rpc_timeout_), false};
}

}  // namespace hal::controller
