// reply_fuzzer.cc - libFuzzer target for what the backend reads from the VMM: raw HTTP replies
// (parse_http_reply, api_error_message) and the event-monitor stream (EventStreamParser).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "backends/cloud-hypervisor/event_stream.h"
#include "backends/cloud-hypervisor/http_reply.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view input(reinterpret_cast<const char *>(data), size);
  if (auto reply = hal::cloud_hypervisor::parse_http_reply(input, nullptr, 1 << 16)) {
    const std::string message = hal::cloud_hypervisor::api_error_message(reply->body);
    (void)hal::cloud_hypervisor::hal_status_for_reply(reply->status, message);
  }
  (void)hal::cloud_hypervisor::api_error_message(input);
  hal::cloud_hypervisor::EventStreamParser parser;
  size_t half = size / 2;
  parser.feed(input.substr(0, half));
  parser.feed(input.substr(half));
  return 0;
}
