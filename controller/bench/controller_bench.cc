// controller_bench.cc - the controller's benchmarks, with real processes (hal-controller on its
// SQLite store, hal-node agents, the mock and kvm-qemu backends), printed in one run:
//  1. KubeVirt's performance-test shape: 100 VMs created 100 ms apart, create→Running p50/p95
//     (time from the Apply call to the VMI's phase Running arriving on a Watch stream), on the
//     mock pool (2 nodes) and on the kvm-qemu pool (5 nodes; each VM boots the project's test
//     guest, no NIC); then the same shape on bare QEMU (the argv HAL used, spawned and `cont`
//     sent by hand), so that the HAL / bare-QEMU ratio shows what HAL adds and the bare figure
//     shows what QEMU alone can do on this machine. Both sides run under one accelerator, decided
//     once (--accelerator, default auto: the kvm-qemu backend's own decision, printed with its
//     reason) and given to the pool's config; the bare side inherits it with the argv. "Running"
//     is the VMI phase (QEMU answered `cont`), as in KubeVirt's test, but the figures and the
//     ratio count only when every guest on both sides then printed the test guest's ready marker
//     on its console (--boot-timeout-s); otherwise the run fails naming the side, the VM and its
//     last console lines. Under TCG the 100 boots share the machine's cores with everything else,
//     on both sides alike;
//  2. scale: 10,000 VMs on 100 mock nodes: time to converge (all VMIs Running), store writes per
//     VM (write transactions: store revisions consumed / VMs; each carries several objects) and the
//     controller's resident memory; on the SQLite store, on etcd (a private single-member etcd
//     on loopback), or on both one after the other and then side by side (--scale-store); with
//     --baseline-controller PATH, first with that hal-controller and then with this build's;
//  3. security: what mutual TLS and RBAC cost: Get and Apply latency of a secured and an
//     insecure controller in alternating rounds, then the scale run on each (see
//     security_overhead).
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "controller/bench/backend_accelerator.h"
#include "controller/bench/controller_client.h"
#include "controller/bench/process_stats.h"
#include "controller/bench/raw_qemu_shape.h"
#include "controller/e2e/cluster.h"
#include "controller/tls/credentials.h"
#include "testing/etcd_cluster.h"
#include "testing/temp_dir.h"
#include "testing/test_guest.h"

namespace hal::bench {
namespace {

/** The cluster's admin identity over its mutual TLS (as halctl uses it). */
std::shared_ptr<grpc::ChannelCredentials> admin_credentials(const e2e::Cluster &cluster) {
  const std::string pki = cluster.pki_dir();
  return tls::channel_credentials(
      tls::TlsOptions{pki + "/ca.crt", pki + "/user-admin.crt", pki + "/user-admin.key", false});
}

using namespace std::chrono_literals;

/** A VirtualMachine for the benchmarks. Sent as JSON, as kubectl and client-go send objects to
 *  an API server (the controller accepts YAML too; halctl sends the user's file as it is). With
 *  `test_guest`, it boots the project's test guest ("hal/test-guest", as
 *  examples/manifests/testguest-vm.yaml does). */
nlohmann::json vm_object(const std::string &name, const std::string &pool,
                         const std::string &memory, bool test_guest = false) {
  nlohmann::json vm = {{"apiVersion", "kubevirt.io/v1"},
                       {"kind", "VirtualMachine"},
                       {"metadata", {{"name", name}}},
                       {"spec",
                        {{"runStrategy", "Always"},
                         {"template",
                          {{"spec",
                            {{"nodeSelector", {{"hal.dev/pool", pool}}},
                             {"domain",
                              {{"cpu", {{"cores", 1}}},
                               {"memory", {{"guest", memory}}},
                               {"devices", {{"autoattachPodInterface", false}}}}}}}}}}}};
  if (test_guest) {
    const nlohmann::json container = {
        {"image", "hal/test-guest"}, {"kernelPath", "/vmlinuz"}, {"initrdPath", "/initrd.img"}};
    vm["spec"]["template"]["spec"]["domain"]["firmware"]["kernelBoot"] = {
        {"kernelArgs", "console=ttyS0 quiet"}, {"container", container}};
  }
  return vm;
}

/** Node pools for the benchmarks: kvm-qemu under `accelerator` ("kvm" or "tcg": the benchmark's
 *  one decision, never the backend's own "auto"), and a mock whose fake host is big enough for
 *  100 one-vCPU VMs per node (the scheduler does not overcommit). */
std::string write_nodepools(const std::string &dir, const std::string &accelerator) {
  nlohmann::json cpus0 = nlohmann::json::array(), cpus1 = nlohmann::json::array();
  for (int i = 0; i < 128; ++i) cpus0.push_back(i), cpus1.push_back(128 + i);
  nlohmann::json host = {{"cpus", 256},
                         {"memory", "2Ti"},
                         {"numaNodes",
                          {{{"id", 0}, {"cpus", cpus0}, {"memory", "1Ti"}},
                           {{"id", 1}, {"cpus", cpus1}, {"memory", "1Ti"}}}}};
  nlohmann::json pools = nlohmann::json::array(
      {{{"apiVersion", "hal.dev/v1"},
        {"kind", "NodePool"},
        {"metadata", {{"name", "qemu"}}},
        {"spec",
         {{"nodeSelector", {{"hal.dev/pool", "qemu"}}},
          {"backend", {{"plugin", "kvm-qemu"}, {"config", {{"accelerator", accelerator}}}}}}}},
       {{"apiVersion", "hal.dev/v1"},
        {"kind", "NodePool"},
        {"metadata", {{"name", "mock"}}},
        {"spec",
         {{"nodeSelector", {{"hal.dev/pool", "mock"}}},
          {"backend", {{"plugin", "mock"}, {"config", {{"host", host}}}}}}}}});
  std::string path = dir + "/bench-nodepools.json";
  std::ofstream(path) << pools.dump(2);
  return path;
}

struct Options {
  e2e::Binaries binaries;
  std::string work_dir;
  int vms = 100;
  int interval_ms = 100;
  /** --accelerator as given ("auto", "kvm" or "tcg") and what it resolved to (qemu runs only). */
  std::string accelerator = "auto";
  AcceleratorChoice accel;
  /** The test guest the kvm-qemu VMs boot (qemu runs only). */
  std::string test_guest;
  /** How long the VMs of KubeVirt's shape may take to reach Running. */
  int running_timeout_s = 300;
  /** How long all the kvm-qemu guests of one side may take to boot once Running. */
  int boot_timeout_s = 900;
  int scale_vms = 10000;
  int scale_nodes = 100;
  /** The scale run's store: "sqlite", "etcd" or "both" (one after the other, then compared). */
  std::string scale_store = "sqlite";
  bool run_mock = true, run_qemu = true, run_scale = true, run_security = true;
};

/** What one run of KubeVirt's shape measured. */
struct ShapeResult {
  bool all_running = false;
  /** kvm-qemu only: why the first guest that did not print its ready marker did not ("" when
   *  every guest booted). */
  std::string boot_error;
  double p95_ms = 0;
  /** kvm-qemu only: the argv and state dir of the first VM's QEMU, for the bare-QEMU baseline. */
  std::vector<std::string> qemu_argv;
  std::string qemu_vm_dir;
};

/** The kvm-qemu pool's accelerator: the run's one decision, or "tcg" when the qemu scenario does
 *  not run (then no kvm-qemu node is started and the pool is only declared). */
std::string pool_accelerator(const Options &options) {
  return options.accel.accelerator.empty() ? "tcg" : options.accel.accelerator;
}

/** Prints one line of p50/p95/max. */
void print_latencies(const std::string &label, const std::vector<double> &ms, int vms) {
  std::printf("%-8s %4zu/%-4d  p50 %8.1f ms  p95 %8.1f ms  max %8.1f ms  load %.1f\n",
              label.c_str(), ms.size(), vms, percentile(ms, 50), percentile(ms, 95),
              ms.empty() ? 0.0 : *std::max_element(ms.begin(), ms.end()), load_average());
}

/** Prints what QEMU processes cost the machine over a run. */
void print_qemu_cpu(int count, double cpu_seconds, double run_seconds) {
  const double cores = static_cast<double>(std::thread::hardware_concurrency());
  std::printf(
      "         the %d QEMU processes used %.1f CPU-s (%.2f per VM) in %.1f s: %.0f%% of %.0f "
      "cores\n",
      count, cpu_seconds, count > 0 ? cpu_seconds / count : 0.0, run_seconds,
      100.0 * cpu_seconds / (run_seconds * cores), cores);
}

/** Waits until the guest of every kvm-qemu VM in `vm_dirs` (name -> its state dir on its node;
 *  "" when no node ran it) printed the test guest's ready marker, within `timeout` in all.
 *  Returns the count that did; `*error` gets the first failure, naming the VM, its node and its
 *  last console lines. */
int wait_guests_booted(const std::map<std::string, std::string> &vm_dirs,
                       std::chrono::seconds timeout, std::string *error) {
  const auto deadline = Clock::now() + timeout;
  int booted = 0;
  for (const auto &[name, dir] : vm_dirs) {
    const std::string side = "HAL kvm-qemu VM " + name;
    try {
      if (dir.empty()) throw std::runtime_error(side + ": no node runs a QEMU for it");
      const auto left = std::max(Clock::duration::zero(), deadline - Clock::now());
      hal::testing::require_guest_ready(
          side + " (" + dir + ")", dir + "/console.log", 0,
          std::chrono::duration_cast<std::chrono::milliseconds>(left));
      ++booted;
    } catch (const std::exception &e) {
      if (error->empty()) *error = e.what();
    }
  }
  return booted;
}

/** KubeVirt's shape on one pool; on the kvm-qemu pool every VM boots the test guest, whose boot
 *  is checked before the figures are printed. */
ShapeResult kubevirt_shape(const Options &options, const std::string &pool,
                           const std::string &memory) {
  const bool qemu = pool == "qemu";
  e2e::ClusterOptions cluster_options;
  cluster_options.nodepools_file = write_nodepools(options.work_dir, pool_accelerator(options));
  if (qemu) cluster_options.test_guest_dir = options.test_guest;
  // Enough nodes for the VMs at KubeVirt's cpuAllocationRatio of 10: each kvm-qemu node offers
  // this machine's CPUs (2 here → 20 one-vCPU VMs), so 100 VMs need 5; the mock's fake host is big.
  const int node_count = qemu ? 5 : 2;
  for (int i = 0; i < node_count; ++i)
    cluster_options.nodes.push_back({pool + "-" + std::to_string(i), pool});
  e2e::Cluster cluster(options.binaries, cluster_options);
  ControllerClient client(cluster.address(), admin_credentials(cluster));
  client.watch_phase("Running");
  std::map<std::string, Clock::time_point> applied;
  const auto started = Clock::now();
  auto tick = started;
  for (int i = 0; i < options.vms; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "perf-%03d", i);
    applied[name] = Clock::now();
    client.apply(vm_object(name, pool, memory, qemu).dump());
    tick += std::chrono::milliseconds(options.interval_ms);
    std::this_thread::sleep_until(tick);
  }
  ShapeResult result;
  const auto running_timeout = std::chrono::seconds(options.running_timeout_s);
  result.all_running = client.wait_reached(static_cast<size_t>(options.vms), running_timeout);
  const double run_seconds = std::chrono::duration<double>(Clock::now() - started).count();
  // What the VMs' own QEMU processes cost the machine: under TCG this, not HAL, sets the pace.
  double qemu_cpu = 0;
  int qemu_count = 0;
  std::map<std::string, std::string> vm_dirs;  // kvm-qemu: VM name -> its state dir
  for (const auto &[name, at] : applied) {
    if (qemu) vm_dirs[name] = "";
    for (const auto &node : cluster_options.nodes) {
      const int pid = cluster.qemu_pid(node.name, "default-" + name);
      double cpu = process_cpu_seconds(pid);
      if (cpu < 0) continue;
      qemu_cpu += cpu;
      ++qemu_count;
      vm_dirs[name] = cluster.qemu_vm_dir(node.name, "default-" + name);
      if (result.qemu_argv.empty()) {
        result.qemu_argv = process_cmdline(pid);
        result.qemu_vm_dir = cluster.qemu_vm_dir(node.name, "default-" + name);
      }
    }
  }
  std::vector<double> ms;
  for (const auto &[name, at] : applied) {
    auto reached = client.reached_at(name);
    if (reached != Clock::time_point{})
      ms.push_back(std::chrono::duration<double, std::milli>(reached - at).count());
  }
  result.p95_ms = percentile(ms, 95);
  if (qemu) {
    // The figures count only for guests that booted: wait for every ready marker (untimed).
    const int booted = wait_guests_booted(vm_dirs, std::chrono::seconds(options.boot_timeout_s),
                                          &result.boot_error);
    if (!result.boot_error.empty()) {
      std::fprintf(stderr, "qemu: FAILED: %d of %d guests booted; the first that did not:\n%s\n",
                   booted, options.vms, result.boot_error.c_str());
      return result;
    }
    std::printf("qemu     all %d guests booted ('%s' on each console)\n", booted,
                std::string(hal::testing::kGuestReadyMarker).c_str());
  }
  print_latencies(pool, ms, options.vms);
  std::printf("         KubeVirt's published p95 38.5 s / HAL p95 = %.0fx\n",
              result.p95_ms > 0 ? 38500.0 / result.p95_ms : 0.0);
  if (qemu_count > 0) print_qemu_cpu(qemu_count, qemu_cpu, run_seconds);
  if (!result.all_running)
    std::printf("  NOT all VMs reached Running within %d s\n%s\n", options.running_timeout_s,
                cluster.logs_tail(1500).c_str());
  return result;
}

/** The accelerator in a QEMU argv's -machine option (",accel=X"), "" when none. */
std::string argv_accelerator(const std::vector<std::string> &argv) {
  for (const std::string &arg : argv) {
    const size_t at = arg.find(",accel=");
    if (at != std::string::npos) return arg.substr(at + 7, arg.find(',', at + 7) - (at + 7));
  }
  return "";
}

/** The same shape on bare QEMU with the argv HAL used, after HAL's run, for the ratio; printed
 *  only when every guest on both sides booted. */
bool raw_qemu_baseline(const Options &options, const ShapeResult &hal) {
  if (hal.qemu_argv.empty()) {
    std::printf("raw QEMU baseline: not run (no QEMU of the HAL run was found)\n");
    return false;
  }
  if (!hal.boot_error.empty()) {
    std::printf("raw QEMU baseline: not run (the HAL side's guests did not all boot)\n");
    return false;
  }
  const std::string accelerator = argv_accelerator(hal.qemu_argv);
  if (accelerator != options.accel.accelerator) {
    std::fprintf(stderr, "raw QEMU baseline: FAILED: the HAL run's QEMU ran under '%s', not '%s'\n",
                 accelerator.c_str(), options.accel.accelerator.c_str());
    return false;
  }
  wait_until_quiet(30s);
  RawQemuShapeResult raw = raw_qemu_shape(
      hal.qemu_argv, hal.qemu_vm_dir, options.work_dir, options.vms,
      std::chrono::milliseconds(options.interval_ms), std::chrono::seconds(options.boot_timeout_s));
  if (!raw.boot_error.empty()) {
    std::fprintf(stderr,
                 "raw QEMU: FAILED: %d of %d guests booted; the first that did not:\n%s\n"
                 "no ratio printed\n",
                 raw.booted, options.vms, raw.boot_error.c_str());
    return false;
  }
  std::printf("raw QEMU all %d guests booted ('%s' on each console)\n", raw.booted,
              std::string(hal::testing::kGuestReadyMarker).c_str());
  print_latencies("raw QEMU", raw.ms, options.vms);
  std::printf(
      "         (the HAL run's QEMU argv, spawned paused, QMP connected and `cont` sent by "
      "hand, no HAL)\n");
  print_qemu_cpu(static_cast<int>(raw.ms.size()), raw.qemu_cpu, raw.seconds);
  const double raw_p95 = percentile(raw.ms, 95);
  if (raw_p95 > 0)
    std::printf("         HAL kvm-qemu p95 / raw QEMU p95 = %.2fx  (both under %s)\n",
                hal.p95_ms / raw_p95, accelerator.c_str());
  if (!raw.first_error.empty()) std::printf("  a bare QEMU failed: %s\n", raw.first_error.c_str());
  return raw.ms.size() == static_cast<size_t>(options.vms);
}

/** The scale run's cluster: its store, whether it is secured, and who applies the VMs. */
struct ScaleSetup {
  bool insecure = false;   ///< Everything plaintext and unauthenticated (the security baseline).
  bool rbac_user = false;  ///< Apply as a user bound by RBAC (not the admin group).
  std::string label = "scale";   ///< Prefix of the printed lines.
  std::string store = "sqlite";  ///< The controller's store: "sqlite" or "etcd" (a private one).
};

/** What a scale run measured. */
struct ScaleResult {
  bool all_running = false;
  double converged_s = 0;  ///< Apply of the first VM to the last VMI Running.
  double writes_per_vm = 0;
  double controller_cpu = 0;  ///< Controller CPU seconds until converged.
  double store_cpu = -1;      ///< etcd's CPU seconds until converged (-1: SQLite, in-process).
};

/** A ClusterRole for the benchmark's user, bound cluster-wide to its group: what the benchmark
 *  asks for (create and read VMs and VMIs, list NodePools for the revision), nothing else. */
constexpr char kBenchRbac[] = R"(apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: bench-vms}
rules:
- apiGroups: [kubevirt.io]
  resources: [virtualmachines, virtualmachineinstances]
  verbs: [create, get, list, watch]
- apiGroups: [hal.dev]
  resources: [nodepools]
  verbs: [get, list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: bench-vms}
subjects:
- {kind: Group, name: bench, apiGroup: rbac.authorization.k8s.io}
roleRef: {kind: ClusterRole, name: bench-vms, apiGroup: rbac.authorization.k8s.io}
)";

/** The credentials the benchmark's client presents on `cluster`: plaintext on an insecure one,
 *  else the admin's or (with `rbac_user`) those of user "bench" in group "bench", bound by
 *  kBenchRbac. */
std::shared_ptr<grpc::ChannelCredentials> bench_credentials(e2e::Cluster &cluster, bool insecure,
                                                            bool rbac_user) {
  if (insecure) return grpc::InsecureChannelCredentials();
  if (!rbac_user) return admin_credentials(cluster);
  ControllerClient(cluster.address(), admin_credentials(cluster)).apply(kBenchRbac);
  return tls::channel_credentials(cluster.issue_user("bench", {"bench"}));
}

/** Proof that a secured cluster really authenticates and authorizes: a plaintext client is
 *  refused, and the bench user may not delete (its role has no delete). Throws when not. */
void check_secured(e2e::Cluster &cluster, ControllerClient &bench_user, const std::string &vm) {
  bool plaintext_refused = false;
  try {
    ControllerClient(cluster.address(), grpc::InsecureChannelCredentials()).revision("NodePool");
  } catch (const std::runtime_error &) {
    plaintext_refused = true;
  }
  if (!plaintext_refused)
    throw std::runtime_error("the secured controller answered a plaintext client");
  const grpc::Status denied = bench_user.remove("VirtualMachine", "default", vm);
  if (denied.error_code() != grpc::StatusCode::PERMISSION_DENIED)
    throw std::runtime_error("RBAC did not deny the bench user's delete: " +
                             std::to_string(denied.error_code()) + " " + denied.error_message());
}

/** 10,000 VMs on 100 mock nodes. */
ScaleResult scale(const Options &options, const ScaleSetup &setup = {}) {
  std::unique_ptr<hal::testing::EtcdCluster> etcd;
  e2e::ClusterOptions cluster_options;
  cluster_options.insecure = setup.insecure;
  if (setup.store == "etcd") {
    hal::testing::EtcdClusterOptions etcd_options;
    // One Apply of 100 VMs is one transaction of 100 objects, near etcd's default limit of
    // 128 operations (and 1.5 MiB) per transaction: room, as README's etcd advice gives.
    etcd_options.extra_args = {"--max-txn-ops", "4096", "--max-request-bytes", "16777216"};
    etcd = std::make_unique<hal::testing::EtcdCluster>(etcd_options);
    cluster_options.store = etcd->url();
  }
  cluster_options.nodepools_file = write_nodepools(options.work_dir, pool_accelerator(options));
  for (int i = 0; i < options.scale_nodes; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "mock-%03d", i);
    cluster_options.nodes.push_back({name, "mock"});
  }
  cluster_options.heartbeat_ms = 2000;
  cluster_options.node_grace_ms = 20000;
  e2e::Cluster cluster(options.binaries, cluster_options);
  ControllerClient client(cluster.address(),
                          bench_credentials(cluster, setup.insecure, setup.rbac_user));
  long rss_before = rss_kib(cluster.controller_pid(), "VmRSS");
  int64_t revision_before = client.revision("NodePool");  // any small kind: one global revision
  client.watch_phase("Running");
  // CPU seconds of the controller and of the agents: steadier than wall time on a busy machine.
  auto agents_cpu = [&] {
    double total = 0;
    for (const auto &node : cluster_options.nodes)
      total += std::max(0.0, process_cpu_seconds(cluster.node_pid(node.name)));
    return total;
  };
  const double controller_cpu_before = process_cpu_seconds(cluster.controller_pid());
  const double agents_cpu_before = agents_cpu();
  const double store_cpu_before = etcd ? process_cpu_seconds(etcd->pid(0)) : 0;
  auto start = Clock::now();
  constexpr int kBatch = 100;  // VMs per Apply call (a List)
  for (int first = 0; first < options.scale_vms; first += kBatch) {
    nlohmann::json list = {
        {"apiVersion", "v1"}, {"kind", "List"}, {"items", nlohmann::json::array()}};
    for (int i = first; i < std::min(first + kBatch, options.scale_vms); ++i) {
      char name[32];
      std::snprintf(name, sizeof name, "scale-%05d", i);
      list["items"].push_back(vm_object(name, "mock", "64Mi"));
    }
    client.apply(list.dump());
  }
  auto applied = Clock::now();
  bool all = client.wait_reached(static_cast<size_t>(options.scale_vms), 300s);
  auto converged = Clock::now();
  const double controller_cpu =
      process_cpu_seconds(cluster.controller_pid()) - controller_cpu_before;
  const double agent_cpu = agents_cpu() - agents_cpu_before;
  const double store_cpu = etcd ? process_cpu_seconds(etcd->pid(0)) - store_cpu_before : -1;
  // When each share of the VMs was Running: a long tail shows up as a late last step.
  std::vector<double> reached;
  for (int i = 0; i < options.scale_vms; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "scale-%05d", i);
    auto at = client.reached_at(name);
    if (at != Clock::time_point{})
      reached.push_back(std::chrono::duration<double>(at - start).count());
  }
  std::this_thread::sleep_for(2s);  // writes still in flight after Running (status, events)
  int64_t revision_after = client.revision("NodePool");  // any small kind: one global revision
  double writes = static_cast<double>(revision_after - revision_before) / options.scale_vms;
  std::printf(
      "%-8s %d VMs on %d mock nodes, %s store: applied in %.2f s, converged (all Running) in "
      "%.2f s  load %.1f\n",
      setup.label.c_str(), options.scale_vms, options.scale_nodes, setup.store.c_str(),
      std::chrono::duration<double>(applied - start).count(),
      std::chrono::duration<double>(converged - start).count(), load_average());
  std::printf(
      "         store write transactions per VM (store revisions used): %.2f (target <= 8 writes)"
      "   controller RSS: %ld MiB (before %ld MiB, peak %ld MiB)\n",
      writes, rss_kib(cluster.controller_pid(), "VmRSS") / 1024, rss_before / 1024,
      rss_kib(cluster.controller_pid(), "VmHWM") / 1024);
  std::printf("         CPU until converged: controller %.1f s, %d agents %.1f s", controller_cpu,
              options.scale_nodes, agent_cpu);
  if (etcd) std::printf(", etcd %.1f s", store_cpu);
  std::printf("\n");
  std::printf("         Running by: 50%% %.2f s, 90%% %.2f s, 99%% %.2f s, 100%% %.2f s\n",
              percentile(reached, 50), percentile(reached, 90), percentile(reached, 99),
              percentile(reached, 100));
  if (!all)
    std::printf("  NOT all VMs reached Running within 300 s\n%s\n",
                cluster.logs_tail(1500).c_str());
  if (setup.rbac_user) check_secured(cluster, client, "scale-00000");
  ScaleResult result;
  result.all_running = all;
  result.converged_s = std::chrono::duration<double>(converged - start).count();
  result.writes_per_vm = writes;
  result.controller_cpu = controller_cpu;
  result.store_cpu = store_cpu;
  return result;
}

/** The scale run on each store --scale-store names; with both, a line comparing them. */
bool scale_runs(const Options &options) {
  ScaleSetup on_sqlite, on_etcd;
  on_etcd.store = "etcd";
  if (options.scale_store != "both")
    return scale(options, options.scale_store == "etcd" ? on_etcd : on_sqlite).all_running;
  const ScaleResult sqlite = scale(options, on_sqlite);
  wait_until_quiet(30s);
  const ScaleResult etcd = scale(options, on_etcd);
  std::printf(
      "scale    SQLite vs etcd: converged %.2f s vs %.2f s (etcd / SQLite %.2f), writes per VM "
      "%.2f vs %.2f, controller CPU %.1f s vs %.1f s (+ etcd %.1f s)\n",
      sqlite.converged_s, etcd.converged_s,
      sqlite.converged_s > 0 ? etcd.converged_s / sqlite.converged_s : 0.0, sqlite.writes_per_vm,
      etcd.writes_per_vm, sqlite.controller_cpu, etcd.controller_cpu, etcd.store_cpu);
  return sqlite.all_running && etcd.all_running;
}

/** The Get and Apply latency of one controller as seen by one client (ms per call). */
struct ApiLatency {
  std::vector<double> get_ms, apply_ms;
};

/** What mutual TLS and RBAC cost, side by side in one run: a secured controller (mutual TLS, a
 *  user bound by RBAC, the audit log) and an insecure one, each with one mock node, answer
 *  Get and Apply calls in alternating rounds (so load changes fall on both alike); then the
 *  10,000-VM scale run on each. The secured side is checked to refuse plaintext and to deny what
 *  the user's role does not grant. */
bool security_overhead(const Options &options) {
  const std::string pools = write_nodepools(options.work_dir, pool_accelerator(options));
  auto start_cluster = [&](bool insecure) {
    e2e::ClusterOptions cluster_options;
    cluster_options.nodepools_file = pools;
    cluster_options.nodes.push_back({"mock-0", "mock"});
    cluster_options.insecure = insecure;
    return std::make_unique<e2e::Cluster>(options.binaries, cluster_options);
  };
  auto secured = start_cluster(false);
  auto open = start_cluster(true);
  ControllerClient secured_client(secured->address(), bench_credentials(*secured, false, true));
  ControllerClient open_client(open->address(), bench_credentials(*open, true, false));
  ApiLatency secured_latency, open_latency;
  constexpr int kRounds = 20, kGets = 100, kApplies = 10;
  auto round = [](ControllerClient &client, ApiLatency &latency, int round_index) {
    for (int i = 0; i < kApplies; ++i) {
      char name[32];
      std::snprintf(name, sizeof name, "api-%02d-%02d", round_index, i);
      nlohmann::json vm = vm_object(name, "mock", "64Mi");
      vm["spec"]["runStrategy"] = "Halted";
      auto begin = Clock::now();
      client.apply(vm.dump());
      latency.apply_ms.push_back(
          std::chrono::duration<double, std::milli>(Clock::now() - begin).count());
    }
    for (int i = 0; i < kGets; ++i) {
      auto begin = Clock::now();
      client.get("VirtualMachine", "default", "api-00-00");
      latency.get_ms.push_back(
          std::chrono::duration<double, std::milli>(Clock::now() - begin).count());
    }
  };
  for (int r = 0; r < kRounds; ++r) {  // each side first in every other round
    round(r % 2 == 0 ? secured_client : open_client, r % 2 == 0 ? secured_latency : open_latency,
          r);
    round(r % 2 == 0 ? open_client : secured_client, r % 2 == 0 ? open_latency : secured_latency,
          r);
  }
  check_secured(*secured, secured_client, "api-00-00");
  auto ratio_line = [](const char *call, const std::vector<double> &on,
                       const std::vector<double> &off) {
    std::printf(
        "security %-5s TLS+RBAC p50 %.3f ms p99 %.3f ms | insecure p50 %.3f ms p99 %.3f ms | "
        "p50 ratio %.2fx (target <= 1.10x), %zu calls each\n",
        call, percentile(on, 50), percentile(on, 99), percentile(off, 50), percentile(off, 99),
        percentile(on, 50) / percentile(off, 50), on.size());
  };
  ratio_line("Get", secured_latency.get_ms, open_latency.get_ms);
  ratio_line("Apply", secured_latency.apply_ms, open_latency.apply_ms);
  std::printf(
      "         (secured side checked: a plaintext client refused, the bench user's delete "
      "denied by RBAC)\n");
  secured.reset();
  open.reset();

  wait_until_quiet(30s);
  ScaleSetup open_scale;
  open_scale.insecure = true;
  open_scale.label = "insecure";
  const ScaleResult off = scale(options, open_scale);
  wait_until_quiet(30s);
  ScaleSetup secured_scale;
  secured_scale.rbac_user = true;
  secured_scale.label = "TLS+RBAC";
  const ScaleResult on = scale(options, secured_scale);
  if (off.converged_s > 0)
    std::printf(
        "security 10,000-VM convergence TLS+RBAC / insecure = %.2fx (target <= 1.10x); writes "
        "per VM %.2f vs %.2f\n",
        on.converged_s / off.converged_s, on.writes_per_vm, off.writes_per_vm);
  return on.all_running && off.all_running;
}

}  // namespace
}  // namespace hal::bench

int main(int argc, char **argv) {
  using namespace hal::bench;
  Options options;
  options.binaries = {HAL_CONTROLLER_BIN, HAL_NODE_BIN, HALCTL_BIN, HAL_PLUGIN_PATH};
  std::string only;
  CLI::App app{"HAL controller benchmarks (real processes)"};
  app.add_option("--only", only, "run one scenario: mock, qemu, scale or security")
      ->check(CLI::IsMember({"mock", "qemu", "scale", "security"}));
  app.add_option("--vms", options.vms, "VMs in KubeVirt's shape")->check(CLI::PositiveNumber);
  app.add_option("--interval-ms", options.interval_ms, "gap between creations");
  app.add_option("--accelerator", options.accelerator,
                 "accelerator of the kvm-qemu pool and of the bare QEMUs: auto, kvm or tcg")
      ->check(CLI::IsMember({"auto", "kvm", "tcg"}));
  app.add_option("--running-timeout-s", options.running_timeout_s,
                 "how long the VMs of KubeVirt's shape may take to reach Running")
      ->check(CLI::PositiveNumber);
  app.add_option("--boot-timeout-s", options.boot_timeout_s,
                 "how long all the kvm-qemu (and then the bare QEMU) guests may take to print "
                 "their ready marker, once Running")
      ->check(CLI::PositiveNumber);
  app.add_option("--scale-vms", options.scale_vms, "VMs in the scale run")
      ->check(CLI::PositiveNumber);
  app.add_option("--scale-nodes", options.scale_nodes, "mock nodes in the scale run")
      ->check(CLI::PositiveNumber);
  app.add_option("--scale-store", options.scale_store,
                 "the scale run's store: sqlite, etcd (a private etcd on loopback), or both "
                 "(one after the other, then side by side)")
      ->check(CLI::IsMember({"sqlite", "etcd", "both"}))
      ->capture_default_str();
  std::string baseline_controller;
  app.add_option("--baseline-controller", baseline_controller,
                 "also run the scale scenario with this hal-controller first (a build before a "
                 "change), for a side-by-side comparison in one run")
      ->check(CLI::ExistingFile);
  CLI11_PARSE(app, argc, argv);
  if (!only.empty()) {
    options.run_mock = only == "mock";
    options.run_qemu = only == "qemu";
    options.run_scale = only == "scale";
    options.run_security = only == "security";
  }
  rlimit files{65536, 65536};
  ::setrlimit(RLIMIT_NOFILE, &files);
  const hal::testing::TempDir work_dir("hal-controller-bench-");
  options.work_dir = work_dir.str();
  bool ok = true;
  try {
    std::printf("KubeVirt performance-test shape: %d VMs, one every %d ms, create->Running\n",
                options.vms, options.interval_ms);
    if (options.run_qemu) {
      // One accelerator and one guest for the kvm-qemu pool and the bare QEMUs, decided first.
      std::string why;
      options.test_guest = hal::testing::test_guest_dir(&why).value_or("");
      if (options.test_guest.empty()) throw std::runtime_error("test guest unavailable: " + why);
      options.accel =
          backend_accelerator(HAL_KVM_QEMU_PLUGIN, options.accelerator, options.work_dir);
      std::printf("qemu     %s; every VM boots the test guest (128 MiB)\n",
                  accelerator_line(options.accel).c_str());
    }
    // Each scenario starts on a quiet machine: the processes of the one before have exited.
    if (options.run_mock) {
      wait_until_quiet(30s);
      ok &= kubevirt_shape(options, "mock", "64Mi").all_running;
    }
    if (options.run_qemu) {
      wait_until_quiet(30s);
      // 128 MiB: the test guest's kernel does not boot in 64 MiB.
      ShapeResult qemu = kubevirt_shape(options, "qemu", "128Mi");
      ok &= qemu.all_running;
      ok &= raw_qemu_baseline(options, qemu);
    }
    if (options.run_scale) {
      if (!baseline_controller.empty()) {
        Options baseline = options;
        baseline.binaries.controller = baseline_controller;
        wait_until_quiet(30s);
        std::printf("scale with the baseline hal-controller %s:\n", baseline_controller.c_str());
        ok &= scale(baseline).all_running;
        std::printf("scale with this build's hal-controller:\n");
      }
      wait_until_quiet(30s);
      ok &= scale_runs(options);
    }
    if (options.run_security) {
      wait_until_quiet(30s);
      ok &= security_overhead(options);
    }
  } catch (const std::exception &e) {
    std::fprintf(stderr, "controller bench: %s\n", e.what());
    ok = false;
  }
  return ok ? 0 : 1;
}
