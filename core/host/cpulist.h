// cpulist.h - the Linux cpulist format ("0-3,8,10-11") used by sysfs and by hal specs.
#ifndef HAL_CORE_HOST_CPULIST_H
#define HAL_CORE_HOST_CPULIST_H

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hal {

/** Parses a cpulist into sorted, de-duplicated ids. Surrounding whitespace (the trailing newline
 *  of sysfs files) is ignored; "" is an empty list. Malformed input, a reversed range or an id
 *  above 1048575 yields nullopt. */
std::optional<std::vector<uint32_t>> parse_cpulist(std::string_view text);

/** Formats ids (any order) as a compact cpulist: {0,1,2,3,8} -> "0-3,8". */
std::string format_cpulist(std::vector<uint32_t> ids);

}  // namespace hal

#endif  // HAL_CORE_HOST_CPULIST_H
