// round_helpers.h - what the benchmarks that compare HAL with a baseline round by round share:
// timing a step, the median of a side's rounds, and cleanup that runs however a round ends.
#ifndef HAL_BACKENDS_KVM_QEMU_BENCH_ROUND_HELPERS_H
#define HAL_BACKENDS_KVM_QEMU_BENCH_ROUND_HELPERS_H

#include <algorithm>
#include <chrono>
#include <exception>
#include <functional>
#include <vector>

namespace hal::kvm_qemu::bench {

/** Milliseconds from `start` to now on the steady clock. */
inline double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

/** The median of `v` (0 for none). */
inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0 : (n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2);
}

/** Runs `f`, ignoring what it throws (one cleanup step must not skip the next). */
inline void ignore_errors(const std::function<void()> &f) {
  try {
    f();
  } catch (const std::exception &) {
  }
}

/** Runs `f` at scope exit, errors ignored: stops a round's VMs however the round ends. */
struct Finally {
  std::function<void()> f;
  ~Finally() { ignore_errors(f); }
};

}  // namespace hal::kvm_qemu::bench

#endif  // HAL_BACKENDS_KVM_QEMU_BENCH_ROUND_HELPERS_H
