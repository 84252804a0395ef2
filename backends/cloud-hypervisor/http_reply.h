// http_reply.h - Cloud Hypervisor API replies: parsing raw HTTP/1.1 responses (Boost.Beast's
// parser, fed from memory so it can be fuzzed), extracting Cloud Hypervisor's error message
// from a reply body, and mapping HTTP status codes onto HAL status codes.
#ifndef HAL_BACKENDS_CLOUD_HYPERVISOR_HTTP_REPLY_H
#define HAL_BACKENDS_CLOUD_HYPERVISOR_HTTP_REPLY_H

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "hal/hal.h"

namespace hal::cloud_hypervisor {

/** One HTTP reply of the Cloud Hypervisor API. */
struct HttpReply {
  /** HTTP status code (200, 204, 400, 404, 500, ...). */
  int status = 0;
  /** The body, possibly empty. */
  std::string body;
  /** True for 2xx. */
  bool ok() const { return status >= 200 && status < 300; }
};

/** Parses one complete HTTP/1.1 response held in `raw`. Answers nullopt (and a reason in
 *  `error`) when it is malformed, truncated, or its body exceeds `max_body` bytes. */
std::optional<HttpReply> parse_http_reply(std::string_view raw, std::string *error = nullptr,
                                          size_t max_body = 16u << 20);

/** The human message in an error body: Cloud Hypervisor sends a JSON array of strings (the error
 *  chain, joined with ": "), some versions a JSON object with "message"/"error", or plain text.
 *  Control characters are replaced and the result is bounded to 400 bytes. */
std::string api_error_message(std::string_view body);

/** The HAL status for a reply of Cloud Hypervisor's API, as the VMM answers (vmm/src/api/http,
 *  v45.0 to v53.0): 2xx OK; 400 INVALID_ARGUMENT (a request its HTTP layer cannot take); 404
 *  NOT_FOUND (no VM or no config); 429 ABORTED; 500 from what the VMM's `message` says, since a
 *  wrong state, a duplicate id and an unknown device all come as 500: a state refusal ("VM is not
 *  running", "Invalid transition", "currently migrating", "already created", "ongoing migration")
 *  FAILED_PRECONDITION, "is not unique" ALREADY_EXISTS, "No device with id" NOT_FOUND, "Failed to
 *  validate config" INVALID_ARGUMENT, anything else UNKNOWN (the VMM failed; the message says
 *  why). The VMM never answers 405 or 409; they map as 500 would. */
hal_status hal_status_for_reply(int http_status, std::string_view message = {});

}  // namespace hal::cloud_hypervisor

#endif  // HAL_BACKENDS_CLOUD_HYPERVISOR_HTTP_REPLY_H
