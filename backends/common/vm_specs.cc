// vm_specs.cc - parsing vm_create's spec and finding the specs kept in a state root (see
// vm_specs.h).
#include "backends/common/vm_specs.h"

#include "backends/common/state_dir.h"
#include "backends/common/state_files.h"
#include "core/spec/vm_id.h"
#include "hal/plugin.hpp"

namespace hal::backend_common {
namespace fs = std::filesystem;
using hal::plugin::Failure;

ParsedSpec parse_spec(std::string_view spec_json) {
  ParsedSpec parsed;
  parsed.doc = nlohmann::json::parse(spec_json, nullptr, false);
  if (parsed.doc.is_discarded()) throw Failure(HAL_INVALID_ARGUMENT, "spec: not valid JSON");
  try {
    parsed.spec = parse_vm_spec(parsed.doc);
  } catch (const std::exception &e) {
    throw Failure(HAL_INVALID_ARGUMENT, e.what());
  }
  return parsed;
}

std::vector<StoredVm> stored_vms(const fs::path &state_root) {
  std::vector<StoredVm> found;
  std::error_code ec;
  for (const auto &entry : fs::directory_iterator(state_root, ec)) {
    // A state dir is a real directory named by a valid VM id: never a symlink out of the root.
    if (entry.is_symlink(ec) || !entry.is_directory(ec)) continue;
    if (!is_valid_vm_id(entry.path().filename().string())) continue;
    const std::optional<std::string> text = read_file(entry.path() / kSpecFileName);
    if (!text) continue;
    StoredVm vm{entry.path(), {nlohmann::json::parse(*text, nullptr, false), {}}};
    if (vm.spec.doc.is_discarded()) continue;
    try {
      vm.spec.spec = parse_vm_spec(vm.spec.doc);
    } catch (const std::exception &) {
      continue;  // not ours, or unreadable: leave it alone
    }
    if (vm.spec.spec.name != entry.path().filename().string()) continue;
    found.push_back(std::move(vm));
  }
  return found;
}

void refuse_tdx_incoming(std::string_view spec_json) {
  const nlohmann::json doc = nlohmann::json::parse(spec_json, nullptr, false);
  if (!doc.is_discarded() && doc.is_object() && doc.contains("launchSecurity") &&
      doc["launchSecurity"].is_object() && doc["launchSecurity"].value("type", "") == "tdx") {
    throw Failure(
        HAL_UNSUPPORTED,
        "migration_prepare_incoming: TDX VMs cannot be live-migrated (spec.launchSecurity)");
  }
}

}  // namespace hal::backend_common
