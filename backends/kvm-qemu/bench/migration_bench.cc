// migration_bench.cc - live migration of a running 512 MiB test guest over loopback, side by side
// in one run: through two kvm-qemu backend instances (migration_send until the source's
// HAL_EVENT_MIGRATION_FINISHED) versus raw QEMU `migrate` between two hand-spawned QEMUs with the
// backend's argv (until the MIGRATION event says completed). Printed: per-round times, median /
// mean / min / max per side, and the ratio the benchmark exists for, backend / raw (target
// <= 1.1x).
//
// Both sides run the same guest under the same accelerator, decided once
// (bench/bench_accelerator.h, --accelerator, default auto) and printed with its reason. A
// migration counts only when its guest had booted on the source (the test guest's ready marker
// on the source's console, bench/guest_console.h) and the migrated guest then ran on the target
// (a heartbeat with the source's boot_id on the target's console). Otherwise the benchmark fails,
// naming the side and showing its last console lines, and prints no ratio.
//
// Each migration starts from a settled guest: its boot dirties memory fast, the idle heartbeat
// loop hardly, so the migrated memory is comparable between runs. Rounds alternate which side
// goes first.
//
// Usage: hal_kvm_qemu_migration_bench [--rounds=N] [--accelerator=auto|kvm|tcg]
// Needs the test guest: $HAL_TEST_GUEST_DIR or scripts/test-guest/build.sh.
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "backends/common/supervised_process.h"
#include "backends/kvm-qemu/bench/bench_accelerator.h"
#include "backends/kvm-qemu/bench/guest_console.h"
#include "backends/kvm-qemu/bench/round_helpers.h"
#include "backends/kvm-qemu/command_line.h"
#include "backends/kvm-qemu/kvm_qemu_backend.h"
#include "backends/kvm-qemu/qmp_client.h"
#include "core/spec/vm_spec.h"
#include "testing/temp_dir.h"
#include "testing/test_guest.h"

namespace {

namespace fs = std::filesystem;
using namespace hal::kvm_qemu;
using namespace hal::kvm_qemu::bench;
using hal::backend_common::SupervisedProcess;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// How long the guest runs after its ready marker before it is migrated (see the top).
constexpr auto kSettle = 10s;
// How long a guest may take to its ready marker (a TCG boot takes seconds).
constexpr auto kBootTimeout = 180s;
// How long one migration may take.
constexpr auto kMigrationTimeout = 120s;
// How long the migrated guest may take to print a heartbeat on the target (one per second).
constexpr auto kHeartbeatTimeout = 30s;

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

// A private temp dir removed at scope exit.
struct Scratch : hal::testing::TempDir {
  Scratch() : TempDir("hal-kvmq-bench-") {}
};

// Waits for the guest that booted with `ready_line` to heartbeat on the target's console `log`:
// the migrated guest runs there. Throws naming `side` otherwise.
void require_migrated_guest_runs(const std::string &side, const fs::path &log,
                                 const std::string &ready_line) {
  const std::string boot_id = hal::testing::boot_id_of(ready_line);
  if (boot_id.empty()) throw std::runtime_error(side + ": no boot_id in '" + ready_line + "'");
  // The target's console shows only what the guest printed after the migration: heartbeats.
  const auto line =
      hal::testing::wait_for_console_line(log, 0, "boot_id=" + boot_id, kHeartbeatTimeout);
  if (!line || line->find("heartbeat") == std::string::npos) {
    throw std::runtime_error(side + ": the migrated guest (boot_id=" + boot_id +
                             ") printed no heartbeat with that boot_id on the target within " +
                             std::to_string(kHeartbeatTimeout.count()) +
                             " s; last console lines of " + log.string() + ":\n" +
                             hal::testing::console_tail(log, 0));
  }
}

// The source backend's HAL_EVENT_MIGRATION_FINISHED: its final status.
struct FinishWaiter {
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<std::string> statuses;
  static void callback(void *self, const hal_event *event) {
    auto *waiter = static_cast<FinishWaiter *>(self);
    if (event->type != HAL_EVENT_MIGRATION_FINISHED) return;
    std::string status = "unknown";
    if (event->detail_json != nullptr) {
      const auto detail = nlohmann::json::parse(event->detail_json, nullptr, false);
      if (detail.is_object()) status = detail.value("status", status);
    }
    std::lock_guard<std::mutex> lock(waiter->mutex);
    waiter->statuses.push_back(status);
    waiter->cv.notify_all();
  }
  // The status of finished migration number `count` (from 1), "" on timeout.
  std::string wait(size_t count) {
    std::unique_lock<std::mutex> lock(mutex);
    cv.wait_for(lock, kMigrationTimeout, [&] { return statuses.size() >= count; });
    return statuses.size() >= count ? statuses[count - 1] : "";
  }
};

// The backend side: two backend instances under `accelerator`, one migration per call.
class BackendSide {
 public:
  BackendSide(const std::string &guest, const std::string &accelerator)
      : guest_(guest),
        source_(config(source_dir_, accelerator),
                hal::plugin::EventSink(&FinishWaiter::callback, &waiter_)),
        target_(config(target_dir_, accelerator), hal::plugin::EventSink()) {
    for (KvmQemuBackend *backend : {&source_, &target_}) {
      const std::string used =
          nlohmann::json::parse(backend->capabilities()).value("accelerator", "");
      if (used != accelerator) {
        throw std::runtime_error("HAL backend: runs its VMs under '" + used + "', not '" +
                                 accelerator + "'");
      }
    }
  }
  ~BackendSide() {
    try {
      source_.close(0);
      target_.close(0);
    } catch (const std::exception &) {
    }
  }

  // One migration: boot, check, settle (untimed), migrate (timed), check the target (untimed).
  double migrate_once() {
    const std::string spec = guest_spec("mig" + std::to_string(++count_), guest_).dump();
    auto vm = source_.create_vm(spec, HAL_CREATE_START);
    std::unique_ptr<hal::plugin::Vm> incoming;
    Finally stop{[&] {
      // Each step on its own: a migrated source refuses force_stop but must still be removed.
      if (incoming) {
        ignore_errors([&] { incoming->force_stop(); });
        ignore_errors([&] { incoming->remove(0); });
      }
      ignore_errors([&] { vm->force_stop(); });
      ignore_errors([&] { vm->remove(0); });
    }};
    const std::string ready = hal::testing::require_guest_ready(
        "HAL backend (source)", backend_console_log(*vm, "HAL backend (source)"), 0, kBootTimeout);
    std::this_thread::sleep_for(kSettle);
    std::string endpoint;
    incoming = target_.prepare_incoming(spec, "", endpoint);
    const std::string uri = nlohmann::json::parse(endpoint)["uri"];
    const fs::path target_log = backend_console_log(*incoming, "HAL backend (target)");
    const auto start = Clock::now();
    vm->migration_send(nlohmann::json({{"uri", uri}}).dump());
    const std::string status = waiter_.wait(static_cast<size_t>(count_));
    const double ms = ms_since(start);
    if (status != "completed") {
      throw std::runtime_error(
          "HAL backend: migration " +
          (status.empty()
               ? "did not finish within " + std::to_string(kMigrationTimeout.count()) + " s"
               : "ended " + status + ": " + vm->migration_progress()));
    }
    require_migrated_guest_runs("HAL backend (target)", target_log, ready);
    return ms;
  }

 private:
  static std::string config(const Scratch &dir, const std::string &accelerator) {
    return nlohmann::json({{"stateDir", dir.path().string()}, {"accelerator", accelerator}}).dump();
  }

  std::string guest_;
  Scratch source_dir_, target_dir_;
  FinishWaiter waiter_;
  KvmQemuBackend source_, target_;
  int count_ = 0;
};

// The raw side: two QEMUs spawned with the backend's argv under `accelerator`, QMP by hand.
class RawSide {
 public:
  RawSide(const std::string &guest, const std::string &accelerator)
      : spec_(hal::parse_vm_spec(guest_spec("raw", guest))) {
    src_.accelerator = dst_.accelerator = accelerator;
    src_.qmp_socket = (dir_.path() / "src.sock").string();
    src_.console_socket = (dir_.path() / "src-console.sock").string();
    src_.console_log = (dir_.path() / "src-console.log").string();
    dst_.qmp_socket = (dir_.path() / "dst.sock").string();
    dst_.console_socket = (dir_.path() / "dst-console.sock").string();
    dst_.console_log = (dir_.path() / "dst-console.log").string();
    dst_.paused = false;
    dst_.incoming = true;
  }

  // One migration: boot, check, settle (untimed), migrate (timed), check the target (untimed).
  double migrate_once() {
    std::error_code ec;
    fs::remove(src_.console_log, ec);
    fs::remove(dst_.console_log, ec);
    // The MIGRATION event's final status; declared before the QMP clients whose I/O thread sets it.
    std::mutex mutex;
    std::condition_variable cv;
    std::string final_status;
    std::unique_ptr<SupervisedProcess> src = SupervisedProcess::spawn(
        build_qemu_argv(spec_, src_), dir_.path() / "src.log", dir_.path() / "src.pid", nullptr);
    std::unique_ptr<SupervisedProcess> dst;
    Finally stop{[&] {
      for (SupervisedProcess *process : {src.get(), dst.get()}) {
        if (process == nullptr) continue;
        process->send_signal(SIGKILL);
        process->wait_exit(10s);
      }
      for (const std::string &socket :
           {src_.qmp_socket, dst_.qmp_socket, src_.console_socket, dst_.console_socket}) {
        std::error_code ignored;
        fs::remove(socket, ignored);
      }
    }};
    auto src_qmp = QmpClient::connect(src_.qmp_socket);
    src_qmp->execute("cont");
    const std::string ready = hal::testing::require_guest_ready(
        "raw QEMU (source)", src_.console_log, 0, kBootTimeout,
        [&] { return src->exited() ? "QEMU " + src->exit_info().describe() : std::string(); });
    std::this_thread::sleep_for(kSettle);
    dst = SupervisedProcess::spawn(build_qemu_argv(spec_, dst_), dir_.path() / "dst.log",
                                   dir_.path() / "dst.pid", nullptr);
    auto dst_qmp = QmpClient::connect(dst_.qmp_socket);
    const nlohmann::json caps = {{"capabilities",
                                  {{{"capability", "events"}, {"state", true}},
                                   {{"capability", "auto-converge"}, {"state", false}}}}};
    dst_qmp->execute("migrate-set-capabilities", {{"capabilities", {caps["capabilities"][0]}}});
    dst_qmp->execute("migrate-incoming", {{"uri", "tcp:127.0.0.1:0"}});
    auto address = dst_qmp->execute("query-migrate")["socket-address"][0];
    const std::string uri = "tcp:127.0.0.1:" + address.value("port", std::string("0"));
    src_qmp->execute("migrate-set-capabilities", caps);
    src_qmp->execute("migrate-set-parameters",
                     {{"downtime-limit", 300}, {"max-bandwidth", uint64_t{1} << 40}});
    src_qmp->subscribe("MIGRATION", [&](const QmpEvent &event) {
      const std::string status = event.data.value("status", "");
      if (status == "completed" || status == "failed" || status == "cancelled") {
        std::lock_guard<std::mutex> lock(mutex);
        final_status = status;
        cv.notify_all();
      }
    });
    const auto start = Clock::now();
    src_qmp->execute("migrate", {{"uri", uri}});
    {
      std::unique_lock<std::mutex> lock(mutex);
      cv.wait_for(lock, kMigrationTimeout, [&] { return !final_status.empty(); });
    }
    const double ms = ms_since(start);
    std::string status;
    {
      std::lock_guard<std::mutex> lock(mutex);
      status = final_status;
    }
    if (status != "completed") {
      throw std::runtime_error(
          "raw QEMU: migration " +
          (status.empty()
               ? "did not finish within " + std::to_string(kMigrationTimeout.count()) + " s"
               : "ended " + status + ": " + src_qmp->execute("query-migrate").dump()));
    }
    require_migrated_guest_runs("raw QEMU (target)", dst_.console_log, ready);
    return ms;
  }

 private:
  Scratch dir_;
  hal::VmSpec spec_;
  LaunchOptions src_, dst_;
};

void print_row(const char *name, const std::vector<double> &ms) {
  std::printf("%-26s %9.1f %9.1f %9.1f %9.1f\n", name, median(ms),
              std::accumulate(ms.begin(), ms.end(), 0.0) / static_cast<double>(ms.size()),
              *std::min_element(ms.begin(), ms.end()), *std::max_element(ms.begin(), ms.end()));
}

}  // namespace

int main(int argc, char **argv) {
  int rounds = 5;
  std::string requested = "auto";
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--rounds=", 9) == 0) {
      rounds = std::max(1, std::atoi(argv[i] + 9));
    } else if (std::strncmp(argv[i], "--accelerator=", 14) == 0) {
      requested = argv[i] + 14;
    } else {
      std::fprintf(stderr, "usage: %s [--rounds=N] [--accelerator=auto|kvm|tcg]\n", argv[0]);
      return 2;
    }
  }
  std::string why;
  const std::string guest = hal::testing::test_guest_dir(&why).value_or("");
  if (guest.empty()) {
    std::fprintf(stderr, "test guest unavailable: %s\n", why.c_str());
    return 1;
  }
  std::vector<double> backend_ms, raw_ms;
  std::string accelerator;
  try {
    Scratch scratch;
    const AcceleratorChoice accel = bench::bench_accelerator(requested, scratch.path());
    accelerator = accel.accelerator;
    std::printf(
        "live migration over loopback, same guest (1 vCPU, 512 MiB, direct kernel boot), %d "
        "rounds\n%s\n",
        rounds, bench::accelerator_line(accel).c_str());
    std::printf(
        "a migration counts once its guest printed '%s' on the source and heartbeats with the "
        "same boot_id on the target\n",
        std::string(hal::testing::kGuestReadyMarker).c_str());
    std::fflush(stdout);
    BackendSide backend(guest, accel.accelerator);
    RawSide raw(guest, accel.accelerator);
    for (int r = 0; r < rounds; ++r) {
      const bool backend_first = r % 2 == 0;
      for (int k = 0; k < 2; ++k) {
        if ((k == 0) == backend_first) {
          backend_ms.push_back(backend.migrate_once());
        } else {
          raw_ms.push_back(raw.migrate_once());
        }
      }
      std::printf("round %d: HAL backend %.1f ms, raw QEMU %.1f ms\n", r + 1, backend_ms.back(),
                  raw_ms.back());
      std::fflush(stdout);
    }
  } catch (const std::exception &e) {
    std::fprintf(stderr, "benchmark FAILED, no ratio printed:\n%s\n", e.what());
    return 1;
  }
  std::printf("\n%-26s %9s %9s %9s %9s\n", "side (ms)", "median", "mean", "min", "max");
  print_row("HAL backend migrate", backend_ms);
  print_row("raw QEMU migrate", raw_ms);
  const double ratio = median(backend_ms) / median(raw_ms);
  std::printf("backend / raw (medians, both under %s) = %.3fx  (target <= 1.1x: %s)\n",
              accelerator.c_str(), ratio, ratio <= 1.1 ? "met" : "NOT met");
  return 0;
}
