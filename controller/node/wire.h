// wire.h - conversions between HAL values and the node.proto wire: HAL status -> gRPC status
// (one-for-one codes, the backend's message kept), state and event-type names, and request
// field checks that answer INVALID_ARGUMENT naming the field.
#ifndef HAL_CONTROLLER_NODE_WIRE_H
#define HAL_CONTROLLER_NODE_WIRE_H

#include <grpcpp/support/status.h>

#include <cstdint>
#include <exception>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "hal/hal.h"
#include "hal/host.hpp"

namespace hal::node {

/** The gRPC status for a HAL status (the codes are equal) with `message`. */
grpc::Status to_grpc(hal_status status, const std::string &message);

/** The gRPC status for the exception currently being handled: hal::Error keeps its code and
 *  message; anything else becomes INTERNAL naming `rpc`. Call only inside a catch block. */
grpc::Status current_exception_status(std::string_view rpc);

/** Runs `body` (returning grpc::Status) and turns any exception into a status; a backend error
 *  never escapes a handler. */
template <class Body>
grpc::Status guarded(std::string_view rpc, Body &&body) noexcept {
  try {
    return body();
  } catch (...) {
    return current_exception_status(rpc);
  }
}

/** The wire name of a VM state: the names of include/hal/names.h ("Running", ...). */
std::string state_name(hal_vm_state state);

/** The wire name of an event type: hal_event_type_name of include/hal/names.h ("state-changed",
 *  ..., "vm-deleted"; "unknown"). */
std::string event_type_name(hal_event_type type);

/** Throws hal::Error(INVALID_ARGUMENT, "<field>: required") when `value` is empty. */
void require_field(std::string_view field, const std::string &value);

/** Throws hal::Error(INVALID_ARGUMENT) naming `field` unless `value` is a valid VM id
 *  (core/spec/vm_id.h: a DNS-1123 label, so never a path that leaves a state directory). */
void require_vm_id(std::string_view field, const std::string &value);

/** Parses a JSON object from request field `field`; empty text is `empty_value` when
 *  `allow_empty`, else INVALID_ARGUMENT "<field>: required". Malformed JSON or a non-object is
 *  INVALID_ARGUMENT naming the field. */
nlohmann::json parse_object_field(std::string_view field, const std::string &text,
                                  bool allow_empty = false,
                                  const nlohmann::json &empty_value = nullptr);

/** Milliseconds since the Unix epoch, now. */
int64_t now_unix_ms();

}  // namespace hal::node

#endif  // HAL_CONTROLLER_NODE_WIRE_H
