// vcpu_pinning.h - vCPU thread discovery (query-cpus-fast) and host CPU affinity of threads.
#ifndef HAL_BACKENDS_KVM_QEMU_VCPU_PINNING_H
#define HAL_BACKENDS_KVM_QEMU_VCPU_PINNING_H

#include <sys/types.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/spec/vm_spec.h"

namespace hal::kvm_qemu {

/** One vCPU and the host thread running it. */
struct VcpuThread {
  uint32_t vcpu = 0;
  pid_t tid = 0;
};

/** Parses a query-cpus-fast reply into (cpu-index, thread-id) pairs, sorted by vCPU. */
std::vector<VcpuThread> parse_cpus_fast(const nlohmann::json &reply);

/** Applies the spec's pinning to `threads` with sched_setaffinity. Throws hal::plugin::Failure
 *  (INVALID_ARGUMENT naming the vCPU and host CPUs) when the kernel refuses. */
void apply_pinning(const std::vector<VcpuPin> &pinning, const std::vector<VcpuThread> &threads);

/** The host CPUs `tid` may run on now (sched_getaffinity); empty when unreadable. */
std::vector<uint32_t> read_affinity(pid_t tid);

}  // namespace hal::kvm_qemu

#endif  // HAL_BACKENDS_KVM_QEMU_VCPU_PINNING_H
