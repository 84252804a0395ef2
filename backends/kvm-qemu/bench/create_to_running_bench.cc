// create_to_running_bench.cc - create->RUNNING through the kvm-qemu backend versus a raw QEMU
// spawn + QMP `cont` of the same guest (same argv), side by side. Run:
//   hal_kvm_qemu_create_bench [--benchmark_repetitions=N]
// The ratio to look at is BackendCreateToRunning / RawQemuSpawnAndCont (target <= 1.15x).
// Needs the test guest: $HAL_TEST_GUEST_DIR or scripts/test-guest/build.sh.
#include <benchmark/benchmark.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "backends/kvm-qemu/command_line.h"
#include "backends/kvm-qemu/kvm_qemu_backend.h"
#include "backends/kvm-qemu/process_supervisor.h"
#include "backends/kvm-qemu/qmp_client.h"
#include "backends/kvm-qemu/tests/test_guest.h"
#include "core/spec/vm_spec.h"

namespace {

namespace fs = std::filesystem;
using namespace hal::kvm_qemu;

nlohmann::json guest_spec(const std::string &name, const std::string &guest) {
  return {{"apiVersion", "hal.dev/v1"},
          {"name", name},
          {"cpu", {{"vcpus", 1}}},
          {"memory", {{"size", "192Mi"}}},
          {"boot",
           {{"kernel", guest + "/vmlinuz"},
            {"initrd", guest + "/initrd.img"},
            {"cmdline", "console=ttyS0 quiet"}}}};
}

// A private temp dir removed at scope exit.
struct Scratch {
  fs::path path;
  Scratch() {
    char templ[] = "/tmp/hal-kvmq-bench-XXXXXX";
    path = ::mkdtemp(templ);
  }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

void BackendCreateToRunning(benchmark::State &state) {
  std::string why;
  const std::string guest = testing::test_guest_dir(&why).value_or("");
  if (guest.empty()) return state.SkipWithError(("test guest unavailable: " + why).c_str());
  Scratch scratch;
  nlohmann::json config = {{"stateDir", scratch.path.string()}, {"accelerator", "tcg"}};
  KvmQemuBackend backend(config.dump(), {});
  int i = 0;
  for (auto _ : state) {
    const std::string spec = guest_spec("bench" + std::to_string(i++), guest).dump();
    auto vm = backend.create_vm(spec, HAL_CREATE_START);
    state.PauseTiming();
    vm->force_stop();
    vm->remove(0);
    state.ResumeTiming();
  }
  backend.close(0);
}
BENCHMARK(BackendCreateToRunning)->Unit(benchmark::kMillisecond)->Iterations(10);

void RawQemuSpawnAndCont(benchmark::State &state) {
  std::string why;
  const std::string guest = testing::test_guest_dir(&why).value_or("");
  if (guest.empty()) return state.SkipWithError(("test guest unavailable: " + why).c_str());
  Scratch scratch;
  hal::VmSpec spec = hal::parse_vm_spec(guest_spec("raw", guest));
  LaunchOptions options;
  options.accelerator = "tcg";
  options.qmp_socket = (scratch.path / "qmp.sock").string();
  options.console_socket = (scratch.path / "console.sock").string();
  const std::vector<std::string> argv = build_qemu_argv(spec, options);
  for (auto _ : state) {
    auto process =
        QemuProcess::spawn(argv, scratch.path / "stderr.log", scratch.path / "qemu.pid", nullptr);
    {
      auto qmp = QmpClient::Connect(options.qmp_socket);
      qmp->Execute("cont");
      state.PauseTiming();
    }
    process->send_signal(SIGKILL);
    process->wait_exit(std::chrono::seconds(10));
    std::error_code ec;
    fs::remove(options.qmp_socket, ec);
    state.ResumeTiming();
  }
}
BENCHMARK(RawQemuSpawnAndCont)->Unit(benchmark::kMillisecond)->Iterations(10);

}  // namespace

BENCHMARK_MAIN();
