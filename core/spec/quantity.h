// quantity.h - Kubernetes-style byte quantities ("512Mi", "1Gi", "2G", "1073741824") as uint64.
#ifndef HAL_CORE_SPEC_QUANTITY_H
#define HAL_CORE_SPEC_QUANTITY_H

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hal {

/** Parses a byte quantity: digits, an optional fraction, an optional suffix (Ki Mi Gi Ti Pi Ei
 *  binary; k M G T P E decimal). The result must be a whole number of bytes that fits in
 *  uint64; anything else (empty, signs, spaces, overflow, "0.5") yields nullopt. */
std::optional<uint64_t> parse_quantity(std::string_view text);

/** Formats bytes as the shortest exact binary quantity ("1Gi", "1536Mi", "1000"). */
std::string format_quantity(uint64_t bytes);

}  // namespace hal

#endif  // HAL_CORE_SPEC_QUANTITY_H
