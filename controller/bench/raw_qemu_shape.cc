// raw_qemu_shape.cc - KubeVirt's shape on bare QEMU processes (see raw_qemu_shape.h).
#include "controller/bench/raw_qemu_shape.h"

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <stdexcept>
#include <thread>

#include "controller/bench/process_stats.h"
#include "testing/child_process.h"
#include "testing/qmp_test_client.h"
#include "testing/test_guest.h"

namespace hal::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

/** One bare QEMU of the run. */
struct RawVm {
  fs::path dir;
  std::vector<std::string> argv;
  fs::path qmp_socket;   // from the argv's "-chardev socket,id=qmp,path=..."
  fs::path console_log;  // from the argv's serial chardev "logfile=..."
  std::unique_ptr<testing::ChildProcess> process;
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

/** The value of `key` in the first "-chardev" option of `argv` that has `key` and whose other
 *  parts include `needle` (QEMU's "a=b,c=d" syntax, ",," an escaped comma); nullopt if none. */
std::optional<std::string> chardev_value(const std::vector<std::string> &argv,
                                         const std::string &needle, const std::string &key) {
  for (size_t i = 0; i + 1 < argv.size(); ++i) {
    if (argv[i] != "-chardev") continue;
    std::vector<std::string> parts(1);
    const std::string &option = argv[i + 1];
    for (size_t at = 0; at < option.size(); ++at) {
      if (option[at] == ',' && at + 1 < option.size() && option[at + 1] == ',') {
        parts.back() += ',';
        ++at;
      } else if (option[at] == ',') {
        parts.emplace_back();
      } else {
        parts.back() += option[at];
      }
    }
    if (std::find(parts.begin(), parts.end(), needle) == parts.end()) continue;
    for (const std::string &part : parts) {
      if (part.rfind(key + "=", 0) == 0) return part.substr(key.size() + 1);
    }
  }
  return std::nullopt;
}

/** "QEMU exited with status N" / "QEMU was killed by signal N" for a wait status. */
std::string describe_exit(int status) {
  if (WIFSIGNALED(status)) return "QEMU was killed by signal " + std::to_string(WTERMSIG(status));
  return "QEMU exited with status " + std::to_string(WEXITSTATUS(status));
}

/** Creates the VM's private dir, spawns the QEMU (paused by the argv's -S) in its own process
 *  group with stderr in a log, connects QMP and sends `cont`; records the time from the spawn,
 *  or what failed. */
void start(RawVm &vm) {
  try {
    fs::create_directories(vm.dir);
    fs::permissions(vm.dir, fs::perms::owner_all, fs::perm_options::replace);
    const auto socket = chardev_value(vm.argv, "id=qmp", "path");
    if (!socket) throw std::runtime_error("the QEMU argv has no QMP chardev");
    vm.qmp_socket = *socket;
    vm.console_log = chardev_value(vm.argv, "id=serial0", "logfile").value_or("");
    const auto started = Clock::now();
    vm.process = std::make_unique<testing::ChildProcess>(
        vm.argv, testing::output_to(vm.dir / "qemu.stderr.log"));
    auto qmp = testing::QmpTestClient::connect(vm.qmp_socket, std::chrono::seconds(120));
    qmp->execute("cont", nullptr, std::chrono::seconds(120));
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
    vm.dir = work_dir / ("raw-" + std::to_string(i));
    vm.argv = substituted(hal_argv, hal_vm_dir, vm.dir.string());
    starters.emplace_back(start, std::ref(vm));
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
      if (vm.console_log.empty())
        throw std::runtime_error(side + ": the argv keeps no console log");
      const auto left = std::max(Clock::duration::zero(), boot_deadline - Clock::now());
      testing::require_guest_ready(
          side, vm.console_log, 0, std::chrono::duration_cast<std::chrono::milliseconds>(left),
          [&] {
            return vm.process->running() ? std::string()
                                         : describe_exit(vm.process->wait_status().value_or(0));
          });
      ++result.booted;
    } catch (const std::exception &e) {
      if (result.boot_error.empty()) result.boot_error = e.what();
    }
  }
  for (RawVm &vm : raw) {
    if (vm.process) vm.process->signal_and_wait(SIGKILL, std::chrono::seconds(10));
  }
  raw.clear();  // reaps every QEMU before its dir goes
  std::error_code ec;
  for (int i = 0; i < vms; ++i) fs::remove_all(work_dir / ("raw-" + std::to_string(i)), ec);
  return result;
}

}  // namespace hal::bench
