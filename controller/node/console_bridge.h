// console_bridge.h - NodeAgent.Console: bridges a VM's serial console (the endpoint
// hal::Vm::console() names: a unix socket, as kvm-qemu gives, or a pty) with the gRPC
// bidirectional stream, bytes both ways.
#ifndef HAL_CONTROLLER_NODE_CONSOLE_BRIDGE_H
#define HAL_CONTROLLER_NODE_CONSOLE_BRIDGE_H

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <nlohmann/json.hpp>

#include "controller/node/vm_directory.h"
#include "hal/v1/node.grpc.pb.h"

namespace hal::node {

/** Opens the console endpoint `endpoint` ({"type":"unix"|"pty","path":...}) for reading and
 *  writing; returns the file descriptor. Throws hal::Error(UNAVAILABLE) when it cannot be
 *  reached and hal::Error(UNSUPPORTED) for an unknown type. */
int open_console_endpoint(const nlohmann::json &endpoint);

/** Serves one Console call: the first client message names the VM (vm_id; its data, if any,
 *  is sent to the console). A VM whose backend has no console answers UNIMPLEMENTED with the
 *  backend's reason. Ends OK when the client half-closes, UNAVAILABLE when the console closes
 *  (e.g. the VM stopped) or the agent stops. */
grpc::Status bridge_console(grpc::ServerContext *context,
                            grpc::ServerReaderWriter<v1::ConsoleChunk, v1::ConsoleChunk> *stream,
                            VmDirectory &vms, const std::atomic<bool> &stopping);

}  // namespace hal::node

#endif  // HAL_CONTROLLER_NODE_CONSOLE_BRIDGE_H
