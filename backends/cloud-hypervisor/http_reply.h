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
  /** HTTP status code (200, 204, 400, 404, 405, 500, ...). */
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

/** The HAL status for an unsuccessful HTTP status: 400 INVALID_ARGUMENT, 404 NOT_FOUND,
 *  405 FAILED_PRECONDITION, 409 ALREADY_EXISTS, 429 ABORTED, 503 UNAVAILABLE, 500 and the rest
 *  UNKNOWN (the VMM failed; the message says why). */
hal_status hal_status_for_http(int http_status);

}  // namespace hal::cloud_hypervisor

#endif  // HAL_BACKENDS_CLOUD_HYPERVISOR_HTTP_REPLY_H
