// plugin_bench.cc - cost of calling through a loaded plugin's table (raw and via hal::Vm)
// against a direct C++ virtual call doing the same trivial work, and the cost of loading a
// plugin (dlopen + negotiation + validation) from scratch.
#include <benchmark/benchmark.h>
#include <dlfcn.h>
#include <time.h>

#include <chrono>
#include <memory>

#include "core/plugin/backend.h"
#include "core/plugin/bench_direct.h"
#include "core/plugin/plugin.h"

namespace {

using hal::bench::StateSource;

// Nanoseconds of this thread's CPU time (robust against other load on the machine).
double thread_cpu_ns() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

// ns per call of the virtual baseline, measured once.
double virtual_ns() {
  static const double ns = [] {
    std::unique_ptr<StateSource> src = hal::bench::make_direct_source();
    StateSource *p = src.get();
    hal_error err;
    err.struct_size = sizeof(err);
    hal_vm_state s;
    constexpr int kN = 50'000'000;
    const double t0 = thread_cpu_ns();
    for (int i = 0; i < kN; ++i) {
      benchmark::DoNotOptimize(p);
      benchmark::DoNotOptimize(p->get_state(0, &s, &err));
    }
    return (thread_cpu_ns() - t0) / kN;
  }();
  return ns;
}

nlohmann::json spec() {
  return {{"apiVersion", "hal.dev/v1"},
          {"name", "bench"},
          {"cpu", {{"vcpus", 1}}},
          {"memory", {{"size", "64Mi"}}}};
}

template <class F>
void run_timed(benchmark::State &state, F &&body) {
  const double base = virtual_ns();
  const double t0 = thread_cpu_ns();
  for (auto _ : state) body();
  const double per = (thread_cpu_ns() - t0) / static_cast<double>(state.iterations());
  state.counters["ns_per_call"] = per;
  state.counters["virtual_ns"] = base;
  state.counters["added_ns"] = per - base;
  state.counters["ratio"] = per / base;
}

void BM_VirtualCall(benchmark::State &state) {
  std::unique_ptr<StateSource> src = hal::bench::make_direct_source();
  StateSource *p = src.get();
  hal_error err;
  err.struct_size = sizeof(err);
  hal_vm_state s;
  run_timed(state, [&] {
    benchmark::DoNotOptimize(p);
    benchmark::DoNotOptimize(p->get_state(0, &s, &err));
  });
}
BENCHMARK(BM_VirtualCall);

void BM_RawTableCall(benchmark::State &state) {
  auto plugin = hal::Plugin::load(HAL_TEST_PLUGIN_GOOD);
  auto backend = hal::Backend::open(plugin);
  auto vm = backend.create(spec(), HAL_CREATE_START);
  const hal_backend_table *table = plugin->table();
  hal_vm *raw = vm.raw();
  hal_error err;
  err.struct_size = sizeof(err);
  hal_vm_state s;
  run_timed(state, [&] {
    benchmark::DoNotOptimize(table);
    benchmark::DoNotOptimize(table->vm_get_state(raw, 0, &s, &err));
  });
}
BENCHMARK(BM_RawTableCall);

void BM_VmWrapperCall(benchmark::State &state) {
  auto plugin = hal::Plugin::load(HAL_TEST_PLUGIN_GOOD);
  auto backend = hal::Backend::open(plugin);
  auto vm = backend.create(spec(), HAL_CREATE_START);
  run_timed(state, [&] { benchmark::DoNotOptimize(vm.state()); });
}
BENCHMARK(BM_VmWrapperCall);

void BM_LoadNegotiateValidate(benchmark::State &state) {
  for (auto _ : state) {
    auto plugin = hal::Plugin::load(HAL_TEST_PLUGIN_GOOD);  // dlopen + negotiate + validate
    benchmark::DoNotOptimize(plugin.get());
    plugin.reset();  // dlclose: the next iteration maps the library afresh
  }
  // 1 would mean the library stayed mapped (and we measured a cached dlopen).
  void *h = dlopen(HAL_TEST_PLUGIN_GOOD, RTLD_LAZY | RTLD_NOLOAD);
  state.counters["still_mapped"] = h != nullptr ? 1 : 0;
  if (h != nullptr) dlclose(h);
}
BENCHMARK(BM_LoadNegotiateValidate)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
