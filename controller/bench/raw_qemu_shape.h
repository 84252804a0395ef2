// raw_qemu_shape.h - KubeVirt's performance-test shape on bare QEMU, with no HAL in the way: the
// baseline the kvm-qemu scenario is compared with in the same run, with the very argv HAL used
// (so the same accelerator and the same guest). Under TCG the QEMU processes themselves can
// saturate a small machine; this shows how fast QEMU alone gets to running there. Each guest must
// then print the test guest's ready marker, as on the HAL side, for the figures to count.
#ifndef HAL_CONTROLLER_BENCH_RAW_QEMU_SHAPE_H
#define HAL_CONTROLLER_BENCH_RAW_QEMU_SHAPE_H

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace hal::bench {

/** What the bare-QEMU run measured. */
struct RawQemuShapeResult {
  std::vector<double> ms;   ///< spawn -> QMP `cont` answered, per QEMU that got there
  double qemu_cpu = 0;      ///< CPU seconds all the QEMU processes used
  double seconds = 0;       ///< wall time of the whole run
  std::string first_error;  ///< why the first QEMU that failed did ("" when none failed)
  int booted = 0;           ///< guests that printed the ready marker
  std::string boot_error;   ///< why the first guest that did not boot did not ("" when all did)
};

/** Starts `vms` QEMU processes `interval` apart with `hal_argv` (the argv HAL's kvm-qemu backend
 *  used for one VM of the HAL run, read from /proc), each in its own state dir under `work_dir`
 *  (every mention of `hal_vm_dir` in the argv is replaced by it, so the console log too). Each
 *  is spawned as the backend does it (posix_spawn in its own process group, paused with -S;
 *  testing/child_process.h), its QMP socket (found in the argv) connected with
 *  testing/qmp_test_client.h and `cont` sent; the time to the `cont` answer is recorded. All
 *  run until the last one answered and every guest printed its ready marker on its console log
 *  (within `boot_timeout` in all, counted from then), then all are killed and reaped. */
RawQemuShapeResult raw_qemu_shape(const std::vector<std::string> &hal_argv,
                                  const std::string &hal_vm_dir,
                                  const std::filesystem::path &work_dir, int vms,
                                  std::chrono::milliseconds interval,
                                  std::chrono::seconds boot_timeout);

}  // namespace hal::bench

#endif  // HAL_CONTROLLER_BENCH_RAW_QEMU_SHAPE_H
