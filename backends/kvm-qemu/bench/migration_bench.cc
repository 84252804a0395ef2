// migration_bench.cc - live migration of a running 512 MiB guest over loopback through two
// kvm-qemu backend instances versus raw QEMU `migrate` between two hand-spawned QEMUs (same argv),
// side by side. The ratio to look at is BackendMigrate / RawQemuMigrate (target <= 1.1x).
// Needs the test guest: $HAL_TEST_GUEST_DIR or scripts/test-guest/build.sh.
#include <benchmark/benchmark.h>
#include <signal.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>

#include "backends/kvm-qemu/command_line.h"
#include "backends/kvm-qemu/kvm_qemu_backend.h"
#include "backends/kvm-qemu/process_supervisor.h"
#include "backends/kvm-qemu/qmp_client.h"
#include "backends/kvm-qemu/tests/test_guest.h"
#include "core/spec/vm_spec.h"

namespace {

namespace fs = std::filesystem;
using namespace hal::kvm_qemu;
using namespace std::chrono_literals;

// Time the guest runs before the migration: its boot dirties memory fast, the idle heartbeat
// loop hardly, so migrate the settled guest for comparable runs.
constexpr auto kSettle = 15s;

nlohmann::json guest_spec(const std::string &name, const std::string &guest) {
  return {{"apiVersion", "hal.dev/v1"},
          {"name", name},
          {"cpu", {{"vcpus", 1}}},
          {"memory", {{"size", "512Mi"}}},
          {"boot",
           {{"kernel", guest + "/vmlinuz"},
            {"initrd", guest + "/initrd.img"},
            {"cmdline", "console=ttyS0 quiet"}}},
          {"migration", {{"maxDowntimeMs", 300}, {"autoConverge", false}}}};
}

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

// Waits for HAL_EVENT_MIGRATION_FINISHED of a backend instance.
struct FinishWaiter {
  std::mutex mutex;
  std::condition_variable cv;
  int finished = 0;
  static void callback(void *self, const hal_event *event) {
    auto *waiter = static_cast<FinishWaiter *>(self);
    if (event->type != HAL_EVENT_MIGRATION_FINISHED) return;
    std::lock_guard<std::mutex> lock(waiter->mutex);
    ++waiter->finished;
    waiter->cv.notify_all();
  }
  void wait(int count) {
    std::unique_lock<std::mutex> lock(mutex);
    cv.wait_for(lock, 120s, [&] { return finished >= count; });
  }
};

void BackendMigrate(benchmark::State &state) {
  std::string why;
  const std::string guest = testing::test_guest_dir(&why).value_or("");
  if (guest.empty()) return state.SkipWithError(("test guest unavailable: " + why).c_str());
  Scratch source_dir, target_dir;
  FinishWaiter waiter;
  KvmQemuBackend source(nlohmann::json({{"stateDir", source_dir.path.string()}}).dump(),
                        hal::plugin::EventSink(&FinishWaiter::callback, &waiter));
  KvmQemuBackend target(nlohmann::json({{"stateDir", target_dir.path.string()}}).dump(), {});
  int i = 0;
  for (auto _ : state) {
    state.PauseTiming();
    const std::string spec = guest_spec("mig" + std::to_string(i++), guest).dump();
    auto vm = source.create_vm(spec, HAL_CREATE_START);
    std::this_thread::sleep_for(kSettle);  // let the guest boot and settle
    std::string endpoint;
    auto incoming = target.prepare_incoming(spec, "", endpoint);
    const std::string uri = nlohmann::json::parse(endpoint)["uri"];
    state.ResumeTiming();
    vm->migration_send(nlohmann::json({{"uri", uri}}).dump());
    waiter.wait(i);
    state.PauseTiming();
    incoming->force_stop();
    incoming->remove(0);
    vm->remove(0);
    state.ResumeTiming();
  }
  source.close(0);
  target.close(0);
}
BENCHMARK(BackendMigrate)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();

void RawQemuMigrate(benchmark::State &state) {
  std::string why;
  const std::string guest = testing::test_guest_dir(&why).value_or("");
  if (guest.empty()) return state.SkipWithError(("test guest unavailable: " + why).c_str());
  Scratch scratch;
  hal::VmSpec spec = hal::parse_vm_spec(guest_spec("raw", guest));
  LaunchOptions src_options, dst_options;
  src_options.accelerator = dst_options.accelerator = "tcg";
  src_options.qmp_socket = (scratch.path / "src.sock").string();
  src_options.console_socket = (scratch.path / "src-console.sock").string();
  dst_options.qmp_socket = (scratch.path / "dst.sock").string();
  dst_options.console_socket = (scratch.path / "dst-console.sock").string();
  dst_options.paused = false;
  dst_options.incoming = true;
  const nlohmann::json caps = {{"capabilities",
                                {{{"capability", "events"}, {"state", true}},
                                 {{"capability", "auto-converge"}, {"state", false}}}}};
  for (auto _ : state) {
    state.PauseTiming();
    auto src = QemuProcess::spawn(build_qemu_argv(spec, src_options), scratch.path / "src.log",
                                  scratch.path / "src.pid", nullptr);
    auto dst = QemuProcess::spawn(build_qemu_argv(spec, dst_options), scratch.path / "dst.log",
                                  scratch.path / "dst.pid", nullptr);
    {
      auto src_qmp = QmpClient::Connect(src_options.qmp_socket);
      auto dst_qmp = QmpClient::Connect(dst_options.qmp_socket);
      src_qmp->Execute("cont");
      std::this_thread::sleep_for(kSettle);
      dst_qmp->Execute("migrate-set-capabilities", {{"capabilities", {caps["capabilities"][0]}}});
      dst_qmp->Execute("migrate-incoming", {{"uri", "tcp:127.0.0.1:0"}});
      auto address = dst_qmp->Execute("query-migrate")["socket-address"][0];
      const std::string uri = "tcp:127.0.0.1:" + address.value("port", std::string("0"));
      src_qmp->Execute("migrate-set-capabilities", caps);
      src_qmp->Execute("migrate-set-parameters",
                       {{"downtime-limit", 300}, {"max-bandwidth", uint64_t{1} << 40}});
      std::mutex mutex;
      std::condition_variable cv;
      bool done = false;
      src_qmp->Subscribe("MIGRATION", [&](const QmpEvent &event) {
        const std::string status = event.data.value("status", "");
        if (status == "completed" || status == "failed" || status == "cancelled") {
          std::lock_guard<std::mutex> lock(mutex);
          done = true;
          cv.notify_all();
        }
      });
      state.ResumeTiming();
      src_qmp->Execute("migrate", {{"uri", uri}});
      std::unique_lock<std::mutex> lock(mutex);
      cv.wait_for(lock, 120s, [&] { return done; });
      state.PauseTiming();
    }
    src->send_signal(SIGKILL);
    dst->send_signal(SIGKILL);
    src->wait_exit(10s);
    dst->wait_exit(10s);
    for (const char *name : {"src.sock", "dst.sock", "src-console.sock", "dst-console.sock"}) {
      std::error_code ec;
      fs::remove(scratch.path / name, ec);
    }
    state.ResumeTiming();
  }
}
BENCHMARK(RawQemuMigrate)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
