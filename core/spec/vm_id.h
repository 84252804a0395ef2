// vm_id.h - what a HAL VM id may be on a node: the VM spec's name rule (a DNS-1123 label, at most
// 63 characters), checked wherever an id arrives (node RPCs, a backend's state-dir mapping), so no
// id can name a path outside a backend's state root ('/', "..", '.', empty) or an odd file name.
#ifndef HAL_CORE_SPEC_VM_ID_H
#define HAL_CORE_SPEC_VM_ID_H

#include <cstddef>
#include <string>
#include <string_view>

namespace hal {

/** The longest VM id (the spec schema's name maxLength). */
inline constexpr size_t kMaxVmIdLength = 63;

/** Why `id` is not a valid VM id ("" when it is): it must be 1 to 63 lower-case letters, digits
 *  and '-', starting and ending with a letter or digit. */
std::string vm_id_problem(std::string_view id);

/** True when `id` is a valid VM id (vm_id_problem is empty). */
inline bool is_valid_vm_id(std::string_view id) {
  return vm_id_problem(id).empty();
}

}  // namespace hal

#endif  // HAL_CORE_SPEC_VM_ID_H
