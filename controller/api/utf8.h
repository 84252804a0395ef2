// utf8.h - strict UTF-8 check (RFC 3629) for manifest text: JSON output and the gRPC wire carry
// only valid UTF-8, so a manifest string that is not must be refused where it is read.
#ifndef HAL_CONTROLLER_API_UTF8_H
#define HAL_CONTROLLER_API_UTF8_H

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace hal::controller {

/** Byte offset of the first byte that does not start a well-formed UTF-8 sequence (overlong
 *  forms, surrogates and code points above U+10FFFF are not well-formed); nullopt when all of
 *  `text` is well-formed. */
std::optional<size_t> invalid_utf8_offset(std::string_view text);

/** "invalid UTF-8 byte 0xNN at byte B" for the byte at `offset` of `text`. */
std::string describe_invalid_utf8(std::string_view text, size_t offset);

}  // namespace hal::controller

#endif  // HAL_CONTROLLER_API_UTF8_H
