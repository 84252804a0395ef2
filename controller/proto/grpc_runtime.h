// grpc_runtime.h - process-wide settings for the gRPC runtime of hal-controller and hal-node.
#ifndef HAL_CONTROLLER_PROTO_GRPC_RUNTIME_H
#define HAL_CONTROLLER_PROTO_GRPC_RUNTIME_H

namespace hal::wire {

/** Call first thing in main(). Turns off abseil's mutex deadlock detection, a debugging aid that
 *  Debian's abseil leaves on: it records every lock acquisition of gRPC's internal mutexes in
 *  a global lock graph, which costs the agent and the controller a few percent of their CPU. */
void tune_grpc_runtime();

}  // namespace hal::wire

#endif  // HAL_CONTROLLER_PROTO_GRPC_RUNTIME_H
