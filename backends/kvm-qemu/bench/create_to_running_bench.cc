// create_to_running_bench.cc - create->running of the same test guest three ways, side by side in
// one run, printed as ratios:
//   raw      QEMU spawned by hand (the backend's own argv) + QMP connect + `cont`
//   backend  KvmQemuBackend::create_vm(spec, HAL_CREATE_START)
//   libvirt  `virsh start` of the same guest (domain XML below) through a private libvirtd +
//            virtlogd this program starts itself (bench/private_libvirtd.h) and stops by PID.
// Targets: backend/raw <= 1.15x; libvirt/backend >= 5x.
//
// One accelerator for all three (bench/bench_accelerator.h, --accelerator, default auto): the
// raw argv's accel=, the backend's config.accelerator and the libvirt domain type (kvm or qemu)
// all get the one decision, which is printed with its reason.
//
// "Running" is the same point for all three: QEMU has acknowledged QMP `cont` and the caller has
// been told so - raw: the `cont` reply arrived; backend: create_vm returned (it returns after
// its `cont` reply, state RUNNING); libvirt: `virsh start` exited 0 (libvirtd returns only after
// its own `cont` reply and marking the domain running). From there the guest executes; its boot
// is the same QEMU work for all three, so it is not timed, but every start counts only once its
// guest printed the test guest's ready marker on the serial console (bench/guest_console.h): a
// guest hung in firmware or kernel is "running" to QEMU too. A guest that does not boot fails
// the benchmark, naming the variant and showing its last console lines, and no ratio is printed.
// Each round runs the three in a rotating order; each VM is stopped (untimed) once booted and
// the machine given 500 ms to settle before the next starts, so they never compete with each
// other; the load average is printed before and after (other work on the machine shifts all
// three alike, but widens the spread).
//
// Usage: hal_kvm_qemu_create_bench [--rounds=N] [--no-libvirt] [--accelerator=auto|kvm|tcg]
// Needs the test guest: $HAL_TEST_GUEST_DIR or scripts/test-guest/build.sh; libvirt needs root
// and the Debian packages libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients.
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "backends/common/supervised_process.h"
#include "backends/kvm-qemu/bench/bench_accelerator.h"
#include "backends/kvm-qemu/bench/guest_console.h"
#include "backends/kvm-qemu/bench/private_libvirtd.h"
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
using Clock = std::chrono::steady_clock;

constexpr int kMemoryMiB = 192;
constexpr const char *kCmdline = "console=ttyS0 quiet";
constexpr const char *kDomain = "hal-create-bench";
constexpr std::chrono::milliseconds kSettle{500};
// How long a guest may take from "running" to its ready marker (a TCG boot takes seconds).
constexpr std::chrono::seconds kBootTimeout{120};

nlohmann::json guest_spec(const std::string &name, const std::string &guest) {
  return {
      {"apiVersion", "hal.dev/v1"},
      {"name", name},
      {"cpu", {{"vcpus", 1}}},
      {"memory", {{"size", std::to_string(kMemoryMiB) + "Mi"}}},
      {"boot",
       {{"kernel", guest + "/vmlinuz"}, {"initrd", guest + "/initrd.img"}, {"cmdline", kCmdline}}}};
}

// The same guest as libvirt domain XML: q35, 1 vCPU, 192 MiB, direct kernel boot, serial console
// on a Unix socket with a log file, pvpanic; no USB controller or balloon (the backend adds
// neither). libvirt adds what it always adds (PCIe root ports, SATA, sandbox, ...). Under
// `accelerator` as the backend runs it: kvm -> domain type kvm with -cpu host (host-passthrough),
// tcg -> domain type qemu with -cpu max (maximum).
std::string domain_xml(const std::string &guest, const fs::path &dir,
                       const std::string &accelerator) {
  const bool kvm = accelerator == "kvm";
  return std::string("<domain type='") + (kvm ? "kvm" : "qemu") +
         "'>\n"
         "  <name>" +
         std::string(kDomain) +
         "</name>\n"
         "  <memory unit='MiB'>" +
         std::to_string(kMemoryMiB) +
         "</memory>\n"
         "  <vcpu>1</vcpu>\n"
         "  <os>\n"
         "    <type arch='x86_64' machine='q35'>hvm</type>\n"
         "    <kernel>" +
         guest + "/vmlinuz</kernel>\n    <initrd>" + guest +
         "/initrd.img</initrd>\n"
         "    <cmdline>" +
         kCmdline +
         "</cmdline>\n"
         "  </os>\n"
         "  <cpu mode='" +
         (kvm ? "host-passthrough" : "maximum") +
         "' migratable='on'/>\n"
         "  <on_poweroff>destroy</on_poweroff>\n"
         "  <on_reboot>destroy</on_reboot>\n"
         "  <on_crash>destroy</on_crash>\n"
         "  <devices>\n"
         "    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n"
         "    <serial type='unix'>\n"
         "      <source mode='bind' path='" +
         (dir / "console.sock").string() + "'/>\n      <log file='" +
         (dir / "console.log").string() +
         "' append='on'/>\n"
         "      <target port='0'/>\n"
         "    </serial>\n"
         "    <panic model='isa'/>\n"
         "    <controller type='usb' model='none'/>\n"
         "    <memballoon model='none'/>\n"
         "  </devices>\n"
         "</domain>\n";
}

// A private temp dir removed at scope exit.
struct Scratch : hal::testing::TempDir {
  Scratch() : TempDir("hal-kvmq-bench-") {}
};

std::string load_average() {
  double load[3] = {0, 0, 0};
  if (::getloadavg(load, 3) != 3) return "unknown";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f %.2f %.2f", load[0], load[1], load[2]);
  return buf;
}

// One way of getting the guest to running: returns the timed milliseconds, or throws.
struct Variant {
  std::string name;
  std::function<double()> run_once;
  std::vector<double> ms;
};

}  // namespace

int main(int argc, char **argv) {
  int rounds = 10;
  bool with_libvirt = true;
  std::string requested = "auto";
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--rounds=", 9) == 0) {
      rounds = std::max(1, std::atoi(argv[i] + 9));
    } else if (std::strcmp(argv[i], "--no-libvirt") == 0) {
      with_libvirt = false;
    } else if (std::strncmp(argv[i], "--accelerator=", 14) == 0) {
      requested = argv[i] + 14;
    } else {
      std::fprintf(stderr, "usage: %s [--rounds=N] [--no-libvirt] [--accelerator=auto|kvm|tcg]\n",
                   argv[0]);
      return 2;
    }
  }
  std::string why;
  const std::string guest = hal::testing::test_guest_dir(&why).value_or("");
  if (guest.empty()) {
    std::fprintf(stderr, "test guest unavailable: %s\n", why.c_str());
    return 1;
  }
  Scratch scratch;
  AcceleratorChoice accel;
  try {
    accel = bench::bench_accelerator(requested, scratch.path());
  } catch (const std::exception &e) {
    std::fprintf(stderr, "accelerator: %s\n", e.what());
    return 1;
  }
  std::printf("create->running, same guest (1 vCPU, %d MiB, direct kernel boot), %d rounds\n",
              kMemoryMiB, rounds);
  std::printf("%s\n", bench::accelerator_line(accel).c_str());
  std::printf(
      "a start counts once its guest printed '%s' on its console (untimed, within %lld s)\n",
      std::string(hal::testing::kGuestReadyMarker).c_str(),
      static_cast<long long>(kBootTimeout.count()));
  std::printf("load average before: %s\n", load_average().c_str());
  std::fflush(stdout);

  std::vector<Variant> variants;

  // raw: QEMU spawned with the backend's argv, QMP connect, cont.
  hal::VmSpec raw_spec = hal::parse_vm_spec(guest_spec("raw", guest));
  LaunchOptions options;
  options.accelerator = accel.accelerator;
  options.qmp_socket = (scratch.path() / "raw-qmp.sock").string();
  options.console_socket = (scratch.path() / "raw-console.sock").string();
  options.console_log = (scratch.path() / "raw-console.log").string();
  const std::vector<std::string> raw_argv = build_qemu_argv(raw_spec, options);
  variants.push_back(
      {"raw QEMU spawn + QMP cont",
       [&] {
         const std::uintmax_t from = hal::testing::console_size(options.console_log);
         const auto start = Clock::now();
         std::unique_ptr<SupervisedProcess> process = SupervisedProcess::spawn(
             raw_argv, scratch.path() / "raw.log", scratch.path() / "raw.pid", nullptr);
         Finally stop{[&] {
           process->send_signal(SIGKILL);
           process->wait_exit(std::chrono::seconds(10));
           std::error_code ec;
           fs::remove(options.qmp_socket, ec);
           fs::remove(options.console_socket, ec);
         }};
         double ms = 0;
         {
           QmpClient::Options qmp_options;
           qmp_options.connect_timeout = std::chrono::seconds(10);
           auto qmp = QmpClient::connect(options.qmp_socket, qmp_options);
           qmp->execute("cont");
           ms = ms_since(start);
         }
         hal::testing::require_guest_ready(
             "raw QEMU", options.console_log, from, kBootTimeout, [&] {
               return process->exited() ? "QEMU " + process->exit_info().describe() : std::string();
             });
         return ms;
       },
       {}});

  // backend: KvmQemuBackend::create_vm with HAL_CREATE_START.
  fs::path backend_state = scratch.path() / "backend";
  std::unique_ptr<KvmQemuBackend> backend;
  try {
    backend = std::make_unique<KvmQemuBackend>(
        nlohmann::json({{"stateDir", backend_state.string()}, {"accelerator", accel.accelerator}})
            .dump(),
        hal::plugin::EventSink());
    const std::string used =
        nlohmann::json::parse(backend->capabilities()).value("accelerator", "");
    if (used != accel.accelerator) {
      throw std::runtime_error("the backend runs its VMs under '" + used + "', not '" +
                               accel.accelerator + "'");
    }
  } catch (const std::exception &e) {
    std::fprintf(stderr, "HAL backend: %s\n", e.what());
    return 1;
  }
  int backend_vm = 0;
  variants.push_back(
      {"HAL backend create_vm(START)",
       [&] {
         const std::string spec = guest_spec("bench" + std::to_string(backend_vm++), guest).dump();
         const auto start = Clock::now();
         auto vm = backend->create_vm(spec, HAL_CREATE_START);
         const double ms = ms_since(start);
         Finally stop{[&] {
           ignore_errors([&] { vm->force_stop(); });
           ignore_errors([&] { vm->remove(0); });
         }};
         hal::testing::require_guest_ready("HAL backend", backend_console_log(*vm, "HAL backend"),
                                           0, kBootTimeout);
         return ms;
       },
       {}});

  // libvirt: virsh start through a private libvirtd + virtlogd.
  std::unique_ptr<hal::kvm_qemu::bench::PrivateLibvirtd> libvirt;
  std::string libvirt_status = "not run (--no-libvirt)";
  if (with_libvirt) {
    libvirt = std::make_unique<hal::kvm_qemu::bench::PrivateLibvirtd>();
    std::string out;
    if (!libvirt->error().empty()) {
      libvirt_status = "unavailable: " + libvirt->error();
    } else {
      const fs::path xml = libvirt->dir() / "domain.xml";
      std::ofstream(xml) << domain_xml(guest, libvirt->dir(), accel.accelerator);
      if (libvirt->virsh({"define", xml.string()}, &out) != 0) {
        libvirt_status = "unavailable: virsh define failed: " + out;
      } else {
        libvirt_status = "";
        const fs::path console_log = libvirt->dir() / "console.log";
        variants.push_back({"libvirt virsh start",
                            [&, console_log] {
                              std::string output;
                              const std::uintmax_t from = hal::testing::console_size(console_log);
                              const auto start = Clock::now();
                              const int rc = libvirt->virsh({"start", kDomain}, &output);
                              const double ms = ms_since(start);
                              if (rc != 0) throw std::runtime_error("virsh start: " + output);
                              Finally stop{[&] { libvirt->virsh({"destroy", kDomain}); }};
                              hal::testing::require_guest_ready("libvirt", console_log, from,
                                                                kBootTimeout);
                              return ms;
                            },
                            {}});
      }
    }
  }
  if (!libvirt_status.empty()) std::printf("libvirt: %s\n", libvirt_status.c_str());

  int status = 0;
  try {
    // Warm-up (page cache, libvirt's capability cache): one untimed start of each.
    for (Variant &v : variants) v.run_once();
    if (libvirt && libvirt_status.empty()) {
      // Proves libvirt's "running" is real once: start, ask its state, destroy (untimed).
      std::string state;
      libvirt->virsh({"start", kDomain});
      libvirt->virsh({"domstate", kDomain}, &state);
      libvirt->virsh({"destroy", kDomain});
      std::printf("libvirt domstate right after virsh start: %s", state.c_str());
    }
    for (int r = 0; r < rounds; ++r) {
      for (size_t k = 0; k < variants.size(); ++k) {
        Variant &v = variants[(k + static_cast<size_t>(r)) % variants.size()];
        v.ms.push_back(v.run_once());
        // Let the previous teardown finish (libvirtd keeps cleaning up after `virsh destroy`
        // returns) so no variant pays for the one before it.
        std::this_thread::sleep_for(kSettle);
      }
    }
  } catch (const std::exception &e) {
    std::fprintf(stderr, "benchmark FAILED, no figures or ratios printed:\n%s\n", e.what());
    status = 1;
  }
  if (libvirt && libvirt_status.empty()) {
    libvirt->virsh({"destroy", kDomain});
    libvirt->kill_domain_qemu(kDomain);
    libvirt->virsh({"undefine", kDomain});
  }
  if (status != 0) return status;

  std::printf("guest booted ('%s') in every start: %d per variant (1 warm-up + %d rounds)\n",
              std::string(hal::testing::kGuestReadyMarker).c_str(), rounds + 1, rounds);
  std::printf("\n%-32s %9s %9s %9s %9s\n", "variant (ms)", "median", "mean", "min", "max");
  std::map<std::string, double> med;
  for (const Variant &v : variants) {
    if (v.ms.empty()) continue;
    const double mean = std::accumulate(v.ms.begin(), v.ms.end(), 0.0) / v.ms.size();
    med[v.name] = median(v.ms);
    std::printf("%-32s %9.1f %9.1f %9.1f %9.1f\n", v.name.c_str(), med[v.name], mean,
                *std::min_element(v.ms.begin(), v.ms.end()),
                *std::max_element(v.ms.begin(), v.ms.end()));
  }
  std::printf("\nratios of medians (all under %s):\n", accel.accelerator.c_str());
  if (med.count(variants[0].name) && med.count(variants[1].name)) {
    const double r = med[variants[1].name] / med[variants[0].name];
    std::printf("  backend / raw     = %.3fx  (target <= 1.15x: %s)\n", r,
                r <= 1.15 ? "met" : "NOT met");
  }
  if (variants.size() > 2 && med.count(variants[2].name) && med.count(variants[1].name)) {
    const double r = med[variants[2].name] / med[variants[1].name];
    std::printf("  libvirt / backend = %.2fx  (target >= 5x: %s)\n", r, r >= 5 ? "met" : "NOT met");
  } else {
    std::printf("  libvirt / backend = n/a (libvirt %s)\n", libvirt_status.c_str());
  }
  // Per-round ratios (the variants of one round ran back to back): robust against load drifting
  // during the run.
  auto paired = [&](size_t num, size_t den) {
    std::vector<double> r;
    if (variants.size() <= std::max(num, den)) return r;
    const std::vector<double> &a = variants[num].ms, &b = variants[den].ms;
    for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) r.push_back(a[i] / b[i]);
    return r;
  };
  if (auto r = paired(1, 0); !r.empty()) {
    std::printf("median of per-round ratios: backend / raw = %.3fx", median(r));
    if (auto l = paired(2, 1); !l.empty()) std::printf(", libvirt / backend = %.2fx", median(l));
    std::printf("\n");
  }
  std::printf("load average after: %s\n", load_average().c_str());
  return status;
}
