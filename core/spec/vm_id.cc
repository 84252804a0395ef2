// vm_id.cc - vm_id_problem (vm_id.h).
#include "core/spec/vm_id.h"

namespace hal {

namespace {

bool lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

}  // namespace

std::string vm_id_problem(std::string_view id) {
  if (id.empty()) return "is empty";
  if (id.size() > kMaxVmIdLength)
    return "is " + std::to_string(id.size()) + " characters long (at most " +
           std::to_string(kMaxVmIdLength) + ")";
  for (char c : id) {
    if (!lower_alnum(c) && c != '-')
      return "must be a DNS-1123 label: lower-case letters, digits and '-' only";
  }
  if (!lower_alnum(id.front()) || !lower_alnum(id.back()))
    return "must be a DNS-1123 label: it must start and end with a letter or digit";
  return {};
}

}  // namespace hal
