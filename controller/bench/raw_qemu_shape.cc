// raw_qemu_shape.cc - KubeVirt's shape on bare QEMU processes (see raw_qemu_shape.h).
#include "controller/bench/raw_qemu_shape.h"

#include <signal.h>

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <thread>

#include "backends/common/supervised_process.h"
#include "backends/kvm-qemu/bench/guest_console.h"
#include "backends/kvm-qemu/qmp_client.h"
#include "backends/kvm-qemu/vm_state_dir.h"
#include "controller/bench/process_stats.h"

namespace hal::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

/** One bare QEMU of the run. */
struct RawVm {
  kvm_qemu::VmStateDir dir{fs::path()};
  std::unique_ptr<backend_common::SupervisedProcess> process;
  double ms = -1;
  std::string error;
};

/** `argv` with every occurrence of `from` replaced by `to`. */
std::vector<std::string> substituted(std::vector<std::string> argv, const std::string &from,
                                     const std::string &to) {
  for (std::string &arg : argv) {
    for (size_t at = arg.find(from); at != std::string::npos; at = arg.find(from, at + to.size()))
      arg.replace(at, from.size(), to);
  }
  return argv;
}

/** Creates the VM's state dir, spawns the QEMU, connects QMP and sends `cont`, as the backend
 *  does; records the time from the spawn, or what failed. */
void start(RawVm &vm, const std::vector<std::string> &argv) {
  try {
    vm.dir.create();
    const auto started = Clock::now();
    vm.process = backend_common::SupervisedProcess::spawn(argv, vm.dir.stderr_log(),
                                                          vm.dir.pidfile(), nullptr);
    kvm_qemu::QmpClient::Options options;
    options.connect_timeout = std::chrono::seconds(120);
    auto qmp = kvm_qemu::QmpClient::Connect(vm.dir.qmp_socket().string(), options);
    qmp->Execute("cont", nullptr, std::chrono::seconds(120));
    vm.ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
  } catch (const std::exception &e) {
    vm.error = e.what();
  }
}

}  // namespace

RawQemuShapeResult raw_qemu_shape(const std::vector<std::string> &hal_argv,
                                  const std::string &hal_vm_dir, const fs::path &work_dir, int vms,
                                  std::chrono::milliseconds interval,
                                  std::chrono::seconds boot_timeout) {
  std::vector<RawVm> raw(static_cast<size_t>(vms));
  std::vector<std::thread> starters;
  const auto started = Clock::now();
  auto tick = started;
  for (int i = 0; i < vms; ++i) {
    RawVm &vm = raw[static_cast<size_t>(i)];
    vm.dir = kvm_qemu::VmStateDir(work_dir / ("raw-" + std::to_string(i)));
    starters.emplace_back(start, std::ref(vm),
                          substituted(hal_argv, hal_vm_dir, vm.dir.dir().string()));
    tick += interval;
    std::this_thread::sleep_until(tick);
  }
  for (std::thread &starter : starters) starter.join();
  RawQemuShapeResult result;
  result.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  for (RawVm &vm : raw) {
    if (vm.ms >= 0) result.ms.push_back(vm.ms);
    if (!vm.error.empty() && result.first_error.empty()) result.first_error = vm.error;
    if (vm.process) result.qemu_cpu += std::max(0.0, process_cpu_seconds(vm.process->pid()));
  }
  // Every guest must have booted for the figures to count; one shared deadline for all of them.
  const auto boot_deadline = Clock::now() + boot_timeout;
  for (size_t i = 0; i < raw.size(); ++i) {
    RawVm &vm = raw[i];
    const std::string side = "bare QEMU raw-" + std::to_string(i);
    try {
      if (!vm.process) throw std::runtime_error(side + ": not started: " + vm.error);
      const auto left = std::max(Clock::duration::zero(), boot_deadline - Clock::now());
      kvm_qemu::bench::require_guest_ready(
          side, vm.dir.console_log(), 0,
          std::chrono::duration_cast<std::chrono::milliseconds>(left), [&] {
            return vm.process->exited() ? "QEMU " + vm.process->exit_info().describe()
                                        : std::string();
          });
      ++result.booted;
    } catch (const std::exception &e) {
      if (result.boot_error.empty()) result.boot_error = e.what();
    }
  }
  for (RawVm &vm : raw) {
    if (!vm.process) continue;
    vm.process->send_signal(SIGKILL);
    vm.process->wait_exit(std::chrono::seconds(10));
  }
  for (RawVm &vm : raw) vm.dir.remove();
  return result;
}

}  // namespace hal::bench
