// vcpu_pinning.cc - query-cpus-fast parsing and sched_{set,get}affinity on vCPU threads.
#include "backends/kvm-qemu/vcpu_pinning.h"

#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "hal/plugin.hpp"

namespace hal::kvm_qemu {

std::vector<VcpuThread> parse_cpus_fast(const nlohmann::json &reply) {
  std::vector<VcpuThread> threads;
  if (!reply.is_array()) return threads;
  for (const auto &cpu : reply) {
    if (!cpu.is_object() || !cpu.contains("cpu-index") || !cpu.contains("thread-id")) continue;
    VcpuThread thread;
    thread.vcpu = cpu["cpu-index"].get<uint32_t>();
    thread.tid = cpu["thread-id"].get<pid_t>();
    threads.push_back(thread);
  }
  std::sort(threads.begin(), threads.end(),
            [](const VcpuThread &a, const VcpuThread &b) { return a.vcpu < b.vcpu; });
  return threads;
}

void apply_pinning(const std::vector<VcpuPin> &pinning, const std::vector<VcpuThread> &threads) {
  for (const VcpuPin &pin : pinning) {
    auto it = std::find_if(threads.begin(), threads.end(),
                           [&](const VcpuThread &t) { return t.vcpu == pin.vcpu; });
    if (it == threads.end()) {
      throw hal::plugin::Failure(HAL_INTERNAL, "vCPU pinning: QEMU reported no thread for vCPU " +
                                                   std::to_string(pin.vcpu));
    }
    cpu_set_t set;
    CPU_ZERO(&set);
    std::string cpus;
    for (uint32_t cpu : pin.host_cpus) {
      if (cpu < CPU_SETSIZE) CPU_SET(cpu, &set);
      cpus += (cpus.empty() ? "" : ",") + std::to_string(cpu);
    }
    if (::sched_setaffinity(it->tid, sizeof set, &set) != 0) {
      throw hal::plugin::Failure(HAL_INVALID_ARGUMENT,
                                 "spec.cpu.pinning: cannot pin vCPU " + std::to_string(pin.vcpu) +
                                     " (thread " + std::to_string(it->tid) + ") to host CPUs [" +
                                     cpus + "]: " + std::strerror(errno));
    }
  }
}

std::vector<uint32_t> read_affinity(pid_t tid) {
  std::vector<uint32_t> cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(tid, sizeof set, &set) != 0) return cpus;
  for (uint32_t cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  }
  return cpus;
}

}  // namespace hal::kvm_qemu
