// vm_id.cc - hal_vm_id: the injective (namespace, name) → HAL VM id encoding (kubevirt_api.h).
#include "controller/api/field_check.h"
#include "controller/api/kubevirt_api.h"

namespace hal::controller {

namespace {

// The HAL VM spec's name (and every node-side VM id) is a DNS-1123 label: at most 63.
constexpr size_t kMaxVmIdLength = 63;

}  // namespace

std::string hal_vm_id(std::string_view ns, std::string_view name) {
  if (ns.empty()) ns = "default";
  if (!detail::is_dns_label(ns) || !detail::is_dns_label(name)) return {};
  std::string id;
  id.reserve(ns.size() * 2 + 1 + name.size());
  for (char c : ns) {
    id += c;
    if (c == '-') id += '-';
  }
  id += '-';
  id += name;
  return id.size() <= kMaxVmIdLength ? id : std::string();
}

}  // namespace hal::controller
