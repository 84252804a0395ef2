// vmi_model.cc - derived facts of a VMI spec (see vmi_model.h).
#include "controller/api/vmi_model.h"

#include "controller/api/field_check.h"
#include "core/spec/quantity.h"

namespace hal::controller::detail {

using nlohmann::json;

const json *find_path(const json &root, std::initializer_list<std::string_view> keys) {
  const json *node = &root;
  for (auto key : keys) {
    if (!node->is_object()) return nullptr;
    auto it = node->find(key);
    if (it == node->end()) return nullptr;
    node = &*it;
  }
  return node;
}

std::optional<uint64_t> bytes_of(const json &value) {
  if (value.is_number_integer() && (value.is_number_unsigned() || value.get<int64_t>() >= 0)) {
    return value.get<uint64_t>();
  }
  if (value.is_string()) return parse_quantity(value.get<std::string>());
  return std::nullopt;
}

std::optional<uint64_t> millicpu_of(const json &value) {
  Errors ignored;
  json holder = {{"v", value}};
  return get_millicpu(holder, "v", "", ignored);
}

CpuTopology cpu_topology(const json &vmi_spec) {
  CpuTopology t;
  const json *cpu = find_path(vmi_spec, {"domain", "cpu"});
  bool any = false;
  auto field = [&](const char *key, uint32_t &out) {
    if (cpu == nullptr || !cpu->is_object()) return;
    auto it = cpu->find(key);
    if (it != cpu->end() && it->is_number_integer() && it->get<int64_t>() >= 1 &&
        it->get<int64_t>() <= 4096) {
      out = static_cast<uint32_t>(it->get<int64_t>());
      any = true;
    }
  };
  field("sockets", t.sockets);
  field("cores", t.cores);
  field("threads", t.threads);
  if (any) return t;
  for (const char *kind : {"limits", "requests"}) {
    const json *q = find_path(vmi_spec, {"domain", "resources", kind, "cpu"});
    if (q == nullptr) continue;
    if (auto m = millicpu_of(*q); m && *m > 0) {
      uint64_t n = (*m + 999) / 1000;
      t.sockets = static_cast<uint32_t>(std::min<uint64_t>(n, 4096));
      return t;
    }
  }
  return t;
}

std::optional<uint64_t> guest_memory(const json &vmi_spec) {
  const json *q = find_path(vmi_spec, {"domain", "memory", "guest"});
  if (q == nullptr) q = find_path(vmi_spec, {"domain", "resources", "requests", "memory"});
  if (q == nullptr) q = find_path(vmi_spec, {"domain", "resources", "limits", "memory"});
  if (q == nullptr) return std::nullopt;
  return bytes_of(*q);
}

uint64_t hugepage_size(const json &vmi_spec) {
  const json *size = find_path(vmi_spec, {"domain", "memory", "hugepages", "pageSize"});
  if (size == nullptr || !size->is_string()) return 0;
  if (*size == "2Mi") return 2ull << 20;
  if (*size == "1Gi") return 1ull << 30;
  return 0;
}

}  // namespace hal::controller::detail
