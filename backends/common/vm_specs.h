// vm_specs.h - the VM spec as a backend takes it at vm_create (JSON text, turned into a typed
// VmSpec with the ABI's INVALID_ARGUMENT) and finds it again at open() in the spec.json of each
// VM state directory under its state root, which is how VMs are re-adopted after a restart.
#ifndef HAL_BACKENDS_COMMON_VM_SPECS_H
#define HAL_BACKENDS_COMMON_VM_SPECS_H

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string_view>
#include <vector>

#include "core/spec/vm_spec.h"

namespace hal::backend_common {

/** A VM spec in both forms: the JSON document (kept in the state dir) and the typed spec. */
struct ParsedSpec {
  /** The document as given (a backend may pin defaults into it before keeping it). */
  nlohmann::json doc;
  /** The typed spec. */
  VmSpec spec;
};

/** Parses vm_create's `spec_json`. Throws hal::plugin::Failure(HAL_INVALID_ARGUMENT): "spec: not
 *  valid JSON", or parse_vm_spec's message naming the bad fields. */
ParsedSpec parse_spec(std::string_view spec_json);

/** A VM found in a state root. */
struct StoredVm {
  /** Its state directory, <state_root>/<name>. */
  std::filesystem::path dir;
  /** Its spec, read from <dir>/spec.json. */
  ParsedSpec spec;
};

/** The VMs kept under `state_root`, in directory order: each directory whose spec.json parses as
 *  a VM spec named like the directory. Anything else (files, probe directories, unreadable or
 *  foreign specs) is left alone. Never throws for what it finds on disk. */
std::vector<StoredVm> stored_vms(const std::filesystem::path &state_root);

/** Throws hal::plugin::Failure(HAL_UNSUPPORTED) when `spec_json` asks for TDX, whose guests
 *  cannot be live-migrated: migration_prepare_incoming refuses them before defining anything.
 *  A spec that is not a JSON object passes (vm_create's checks then name its problem). */
void refuse_tdx_incoming(std::string_view spec_json);

}  // namespace hal::backend_common

#endif  // HAL_BACKENDS_COMMON_VM_SPECS_H
