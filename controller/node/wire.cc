// wire.cc - HAL <-> node.proto conversions (see wire.h).
#include "controller/node/wire.h"

#include <chrono>

#include "core/spec/vm_id.h"
#include "hal/names.h"

namespace hal::node {

grpc::Status to_grpc(hal_status status, const std::string &message) {
  if (status == HAL_OK) return grpc::Status::OK;
  if (status < HAL_CANCELLED || status > HAL_UNAUTHENTICATED) status = HAL_UNKNOWN;
  return grpc::Status(static_cast<grpc::StatusCode>(status), message);
}

grpc::Status current_exception_status(std::string_view rpc) {
  try {
    throw;
  } catch (const Error &e) {
    return to_grpc(e.status(), e.what());
  } catch (const nlohmann::json::exception &e) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::string(rpc) + ": " + e.what());
  } catch (const std::exception &e) {
    return grpc::Status(grpc::StatusCode::INTERNAL, std::string(rpc) + ": " + e.what());
  } catch (...) {
    return grpc::Status(grpc::StatusCode::INTERNAL, std::string(rpc) + ": unknown exception");
  }
}

std::string state_name(hal_vm_state state) {
  return hal_vm_state_name(state);
}

std::string event_type_name(hal_event_type type) {
  return hal_event_type_name(type);
}

void require_field(std::string_view field, const std::string &value) {
  if (value.empty()) throw Error(HAL_INVALID_ARGUMENT, std::string(field) + ": required");
}

void require_vm_id(std::string_view field, const std::string &value) {
  require_field(field, value);
  if (std::string problem = vm_id_problem(value); !problem.empty())
    throw Error(HAL_INVALID_ARGUMENT, std::string(field) + ": '" + value + "' " + problem);
}

nlohmann::json parse_object_field(std::string_view field, const std::string &text, bool allow_empty,
                                  const nlohmann::json &empty_value) {
  if (text.empty()) {
    if (allow_empty) return empty_value;
    throw Error(HAL_INVALID_ARGUMENT, std::string(field) + ": required");
  }
  nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_discarded())
    throw Error(HAL_INVALID_ARGUMENT, std::string(field) + ": not valid JSON");
  if (!doc.is_object())
    throw Error(HAL_INVALID_ARGUMENT, std::string(field) + ": must be a JSON object");
  return doc;
}

int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace hal::node
