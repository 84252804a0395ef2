// vmi_model.h - internal: derived facts of a VMI spec (vCPU topology, guest memory, requested
// CPU) shared by validation, defaulting, translation and resource_request. Tolerant of malformed
// input (falls back to KubeVirt's defaults), so it is safe on unvalidated documents.
#ifndef HAL_CONTROLLER_API_VMI_MODEL_H
#define HAL_CONTROLLER_API_VMI_MODEL_H

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace hal::controller::detail {

/** Guest CPU topology. */
struct CpuTopology {
  uint32_t sockets = 1;  ///< Sockets.
  uint32_t cores = 1;    ///< Cores per socket.
  uint32_t threads = 1;  ///< Threads per core.
  /** sockets × cores × threads. */
  uint64_t vcpus() const { return uint64_t{sockets} * cores * threads; }
};

/** The topology KubeVirt gives a VMI: domain.cpu sockets/cores/threads (each missing one is 1)
 *  when any is set; otherwise sockets = the CPU limit (else request) rounded up, or 1. */
CpuTopology cpu_topology(const nlohmann::json &vmi_spec);

/** Guest memory in bytes: domain.memory.guest, else resources.requests.memory, else
 *  resources.limits.memory; nullopt when none is set or parsable. */
std::optional<uint64_t> guest_memory(const nlohmann::json &vmi_spec);

/** The JSON value at a '/'-less dotted path of object keys, or nullptr when any step is missing
 *  or not an object. */
const nlohmann::json *find_path(const nlohmann::json &root,
                                std::initializer_list<std::string_view> keys);

/** Memory requested for a quantity JSON value (string or integer); nullopt when malformed. */
std::optional<uint64_t> bytes_of(const nlohmann::json &value);

/** Millicores of a CPU quantity JSON value; nullopt when malformed. */
std::optional<uint64_t> millicpu_of(const nlohmann::json &value);

/** Hugepage size in bytes for domain.memory.hugepages.pageSize ("2Mi"/"1Gi"), or 0. */
uint64_t hugepage_size(const nlohmann::json &vmi_spec);

}  // namespace hal::controller::detail

#endif  // HAL_CONTROLLER_API_VMI_MODEL_H
