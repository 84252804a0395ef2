// Benchmark: QMP round trip (query-status) against a real, paused QEMU; reports p50/p99 in µs.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "backends/kvm-qemu/qmp_client.h"
#include "backends/kvm-qemu/tests/fake_qmp_server.h"
#include "backends/kvm-qemu/tests/qemu_process.h"

namespace hal::kvm_qemu {
namespace {

// Runs query-status for every iteration and reports latency percentiles as counters.
void MeasureRoundTrips(benchmark::State &state, QmpClient &client) {
  for (int i = 0; i < 200; ++i) client.Execute("query-status");  // warm up
  std::vector<double> us;
  us.reserve(1 << 16);
  for (auto _ : state) {
    auto start = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(client.Execute("query-status"));
    auto end = std::chrono::steady_clock::now();
    us.push_back(std::chrono::duration<double, std::micro>(end - start).count());
  }
  std::sort(us.begin(), us.end());
  auto pct = [&](double p) { return us[std::min(us.size() - 1, std::size_t(p * us.size()))]; };
  state.counters["p50_us"] = pct(0.50);
  state.counters["p99_us"] = pct(0.99);
  state.counters["max_us"] = us.back();
}

// Against real QEMU: client + QEMU monitor latency.
void BM_QmpQueryStatusRoundTrip(benchmark::State &state) {
  std::string qemu = testing::FindQemuBinary();
  if (qemu.empty()) {
    state.SkipWithError("qemu-system-x86_64 not found");
    return;
  }
  testing::QemuProcess proc(
      qemu, {"-S", "-accel", "tcg", "-machine", "q35", "-nodefaults", "-display", "none"});
  QmpClient::Options options;
  options.connect_timeout = std::chrono::seconds(20);
  auto client = QmpClient::Connect(proc.qmp_path(), options);
  MeasureRoundTrips(state, *client);
  client->Execute("quit");
  proc.WaitForExit(std::chrono::seconds(5));
}
BENCHMARK(BM_QmpQueryStatusRoundTrip)->Iterations(20000)->Unit(benchmark::kMicrosecond);

// Against an in-process fake server that answers at once: the client's own overhead.
void BM_QmpFakeServerRoundTrip(benchmark::State &state) {
  testing::FakeQmpServer server([](testing::FakeQmpConnection &c) {
    if (!c.Handshake()) return;
    while (auto cmd = c.ReadMessage(60000)) {
      c.Send({{"return", {{"status", "paused"}, {"running", false}}}, {"id", (*cmd)["id"]}});
    }
  });
  auto client = QmpClient::Connect(server.path());
  MeasureRoundTrips(state, *client);
  client->Close();
}
BENCHMARK(BM_QmpFakeServerRoundTrip)->Iterations(20000)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace hal::kvm_qemu

BENCHMARK_MAIN();
