// qmp_roundtrip_bench.cc - QMP round-trip latency (query-status), side by side in one run:
//   HAL      QmpClient::execute("query-status") (I/O thread reads, caller waits for the reply)
//   raw      a minimal blocking-socket client on the caller's thread sending the very same
//            bytes the HAL client sends ({"execute":"query-status","id":...}\n)
//   raw-min  the same raw client without an id ({"execute":"query-status"}\n): the floor
//   raw-old  the raw client with the ids QmpClient used before ("hal-<counter>"), to show what
//            the shorter ids (QmpCommandId) save
// against (1) one real QEMU (two QMP monitors, one per client) and (2) in-process fake servers
// that answer at once (the clients' own overhead). Rounds alternate the clients so machine load
// hits them alike; p50/p99/max per client and the HAL/raw ratios are printed, with the load
// average of each section. Target: HAL p99 <= 100 us.
//
// QEMU side: `-S` (never `cont`), `-machine q35 -nodefaults`, no guest: the TCG vCPU thread never
// runs, so only QEMU's main loop and monitor I/O thread are busy. Every client talks to that one
// QEMU, so all sides share its accelerator (printed) and there is no guest whose boot to check;
// TCG is fixed because no guest code runs and it needs no /dev/kvm. QEMU 7.2's monitor reads its
// socket ONE BYTE per read (monitor_can_read() returns 1) and wakes its main loop per byte, so
// its latency grows with the request length: we print the bytes each client sends.
// --pin=CPU pins this process (all threads) and QEMU (all threads) to CPU; --pin=split pins
// this process to the last CPU and QEMU to CPU 0. --rt runs both under SCHED_FIFO (root): on a
// machine busy with other work (compiles) p99 is otherwise the scheduler's run-queue wait, not
// QMP; with --rt it shows what the client and QEMU themselves take.
//
// Usage: hal_kvm_qemu_qmp_bench [--calls=N] [--rounds=R] [--pin=CPU|split] [--rt] [--no-qemu]
#include <sched.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "backends/kvm-qemu/qmp_client.h"
#include "backends/kvm-qemu/qmp_framing.h"
#include "backends/kvm-qemu/tests/fake_qmp_server.h"
#include "testing/bare_qemu.h"
#include "testing/temp_dir.h"

namespace {

namespace fs = std::filesystem;
using namespace hal::kvm_qemu;
using Clock = std::chrono::steady_clock;

std::string load_average() {
  double load[3] = {0, 0, 0};
  if (::getloadavg(load, 3) != 3) return "unknown";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f %.2f %.2f", load[0], load[1], load[2]);
  return buf;
}

// A minimal blocking QMP client: one socket, the caller's thread, no framing beyond '\n'.
class RawQmp {
 public:
  // Connects (retrying while QEMU starts), reads the greeting, negotiates capabilities.
  explicit RawQmp(const std::string &path) {
    const auto deadline = Clock::now() + std::chrono::seconds(20);
    for (;;) {
      fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
      if (::connect(fd_, reinterpret_cast<sockaddr *>(&addr), sizeof addr) == 0) break;
      ::close(fd_);
      if (Clock::now() > deadline) throw std::runtime_error("raw client: cannot connect " + path);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ReadLine();  // greeting
    Call("{\"execute\":\"qmp_capabilities\"}\n");
  }
  ~RawQmp() { ::close(fd_); }
  RawQmp(const RawQmp &) = delete;
  RawQmp &operator=(const RawQmp &) = delete;

  // Sends `line` and reads until the reply (skipping events).
  void Call(const std::string &line) {
    for (size_t off = 0; off < line.size();) {
      ssize_t n = ::write(fd_, line.data() + off, line.size() - off);
      if (n <= 0) throw std::runtime_error("raw client: write failed");
      off += static_cast<size_t>(n);
    }
    for (;;) {
      std::string reply = ReadLine();
      if (reply.find("\"return\"") != std::string::npos ||
          reply.find("\"error\"") != std::string::npos) {
        return;
      }
    }
  }

 private:
  std::string ReadLine() {
    for (;;) {
      if (size_t nl = buffer_.find('\n'); nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return line;
      }
      char chunk[4096];
      ssize_t n = ::read(fd_, chunk, sizeof chunk);
      if (n <= 0) throw std::runtime_error("raw client: connection closed");
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

  int fd_ = -1;
  std::string buffer_;
};

// Latencies of one client, in microseconds.
struct Series {
  std::string name;
  std::string request_example;
  std::function<void(int)> call;  // one round trip; the argument is the call number
  std::vector<double> us;
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

// Warms each client up, then runs `rounds` rounds of `calls` calls per client, the clients in a
// rotating order, and prints the table and the HAL/raw ratios.
void run_section(const char *title, std::vector<Series> &series, int calls, int rounds) {
  std::printf("\n== %s ==\nload average before: %s\n", title, load_average().c_str());
  for (Series &s : series) {
    for (int i = 0; i < 500; ++i) s.call(i);
    s.us.reserve(static_cast<size_t>(calls) * static_cast<size_t>(rounds));
  }
  int n = 0;
  for (int r = 0; r < rounds; ++r) {
    for (size_t k = 0; k < series.size(); ++k) {
      Series &s = series[(k + static_cast<size_t>(r)) % series.size()];
      for (int i = 0; i < calls; ++i) {
        const auto start = Clock::now();
        s.call(++n);
        s.us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
      }
    }
  }
  std::printf("%-9s %7s %9s %9s %9s   %s\n", "client", "calls", "p50 us", "p99 us", "max us",
              "request bytes (example)");
  for (const Series &s : series) {
    std::string shown = s.request_example;
    if (!shown.empty() && shown.back() == '\n') shown.pop_back();
    std::printf("%-9s %7zu %9.1f %9.1f %9.1f   %zu %s\n", s.name.c_str(), s.us.size(),
                percentile(s.us, 0.50), percentile(s.us, 0.99), percentile(s.us, 1.0),
                s.request_example.size(), shown.c_str());
  }
  const Series &hal = series[0];
  const Series &raw = series[1];
  std::printf("HAL/raw: p50 %.2fx, p99 %.2fx; HAL p99 %.1f us (target <= 100 us: %s)\n",
              percentile(hal.us, 0.5) / percentile(raw.us, 0.5),
              percentile(hal.us, 0.99) / percentile(raw.us, 0.99), percentile(hal.us, 0.99),
              percentile(hal.us, 0.99) <= 100 ? "met" : "NOT met");
  if (series.size() > 3) {
    std::printf("old ids / current ids (raw-old / raw): p50 %.2fx, p99 %.2fx\n",
                percentile(series[3].us, 0.5) / percentile(raw.us, 0.5),
                percentile(series[3].us, 0.99) / percentile(raw.us, 0.99));
  }
  std::printf("load average after: %s\n", load_average().c_str());
  std::fflush(stdout);
}

// Pins every thread of process `pid` to `cpu` (cpu < 0: no pinning) and, when `rt`, puts it
// under SCHED_FIFO priority 10 (needs root; false when that failed).
bool tune_process(pid_t pid, int cpu, bool rt) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (cpu >= 0) CPU_SET(cpu, &set);
  sched_param param{};
  param.sched_priority = 10;
  bool ok = true;
  std::error_code ec;
  for (const auto &task : fs::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    const pid_t tid = std::atoi(task.path().filename().c_str());
    if (cpu >= 0) ::sched_setaffinity(tid, sizeof set, &set);
    if (rt && ::sched_setscheduler(tid, SCHED_FIFO, &param) != 0) ok = false;
  }
  return ok;
}

// The HAL client's request line for sequential calls, built the way QmpClient builds it (one
// command at a time always reuses id slot 0).
std::string hal_like_request() {
  return EncodeQmpCommand("query-status", nullptr, QmpCommandId(0));
}

std::vector<Series> make_series(QmpClient &hal, RawQmp &raw, RawQmp &raw_min, RawQmp &raw_old) {
  const std::string minimal = "{\"execute\":\"query-status\"}\n";
  auto old_request = [](int n) {
    return EncodeQmpCommand("query-status", nullptr, "hal-" + std::to_string(n));
  };
  return {
      {"HAL", hal_like_request(), [&hal](int) { hal.execute("query-status"); }, {}},
      {"raw", hal_like_request(), [&raw](int) { raw.Call(hal_like_request()); }, {}},
      {"raw-min", minimal, [&raw_min, minimal](int) { raw_min.Call(minimal); }, {}},
      {"raw-old",
       old_request(10000),
       [&raw_old, old_request](int n) { raw_old.Call(old_request(n)); },
       {}},
  };
}

}  // namespace

int main(int argc, char **argv) {
  int calls = 2000;
  int rounds = 5;
  std::string pin;
  bool rt = false;
  bool with_qemu = true;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--calls=", 8) == 0) {
      calls = std::max(1, std::atoi(argv[i] + 8));
    } else if (std::strncmp(argv[i], "--rounds=", 9) == 0) {
      rounds = std::max(1, std::atoi(argv[i] + 9));
    } else if (std::strncmp(argv[i], "--pin=", 6) == 0) {
      pin = argv[i] + 6;
    } else if (std::strcmp(argv[i], "--rt") == 0) {
      rt = true;
    } else if (std::strcmp(argv[i], "--no-qemu") == 0) {
      with_qemu = false;
    } else {
      std::fprintf(stderr,
                   "usage: %s [--calls=N] [--rounds=R] [--pin=CPU|split] [--rt] [--no-qemu]\n",
                   argv[0]);
      return 2;
    }
  }
  const int ncpu = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int self_cpu = -1, qemu_cpu = -1;
  if (pin == "split") {
    self_cpu = ncpu - 1;
    qemu_cpu = 0;
  } else if (!pin.empty()) {
    self_cpu = qemu_cpu = std::atoi(pin.c_str());
  }
  // Before any thread exists: the affinity and the policy are inherited by every later thread.
  if ((self_cpu >= 0 || rt) && !tune_process(::getpid(), self_cpu, rt)) {
    std::printf("warning: SCHED_FIFO refused (not root?); running at normal priority\n");
    rt = false;
  }
  std::printf(
      "QMP round trip, query-status: %d rounds x %d calls per client; SCHED_FIFO: %s; "
      "pinning: %s\n",
      rounds, calls, rt ? "bench and QEMU, prio 10" : "no",
      pin.empty() ? "none"
                  : ("bench on CPU " + std::to_string(self_cpu) + ", QEMU on CPU " +
                     std::to_string(qemu_cpu))
                        .c_str());

  std::printf(
      "accelerator: tcg (fixed: every client talks to the same QEMU, held at -S with no guest, "
      "so no guest code runs on any side)\n");
  const std::string qemu = with_qemu ? hal::testing::find_qemu_binary() : "";
  if (!with_qemu) {
    std::printf("\n== real QEMU ==\nskipped (--no-qemu)\n");
  } else if (qemu.empty()) {
    std::printf("\n== real QEMU ==\nskipped: qemu-system-x86_64 not found\n");
  } else {
    const hal::testing::TempDir scratch("hal-kvmq-qmpbench-");
    const fs::path dir = scratch.path();
    {
      const std::string raw_sock = (dir / "raw.sock").string();
      const std::string min_sock = (dir / "min.sock").string();
      const std::string old_sock = (dir / "old.sock").string();
      hal::testing::BareQemu proc(
          qemu, {"-S",       "-accel",
                 "tcg",      "-machine",
                 "q35",      "-nodefaults",
                 "-display", "none",
                 "-chardev", "socket,id=raw,path=" + raw_sock + ",server=on,wait=off",
                 "-mon",     "chardev=raw,mode=control",
                 "-chardev", "socket,id=min,path=" + min_sock + ",server=on,wait=off",
                 "-mon",     "chardev=min,mode=control",
                 "-chardev", "socket,id=old,path=" + old_sock + ",server=on,wait=off",
                 "-mon",     "chardev=old,mode=control"});
      QmpClient::Options options;
      options.connect_timeout = std::chrono::seconds(20);
      auto hal = QmpClient::connect(proc.qmp_path(), options);
      RawQmp raw(raw_sock);
      RawQmp raw_min(min_sock);
      RawQmp raw_old(old_sock);
      if (qemu_cpu >= 0 || rt) tune_process(proc.pid(), qemu_cpu, rt);
      std::vector<Series> series = make_series(*hal, raw, raw_min, raw_old);
      run_section("real QEMU 7.2 (-S, TCG, no guest)", series, calls, rounds);
      hal->execute("quit");
      proc.wait_for_exit(std::chrono::seconds(5));
    }
  }

  // Fake servers answering at once, one per client: the clients' own cost.
  auto answer = [](testing::FakeQmpConnection &c) {
    if (!c.Handshake()) return;
    while (auto cmd = c.ReadMessage(60000)) {
      nlohmann::json reply = {{"return", {{"status", "prelaunch"}, {"running", false}}}};
      if (cmd->contains("id")) reply["id"] = (*cmd)["id"];
      c.Send(reply);
    }
  };
  testing::FakeQmpServer hal_server(answer), raw_server(answer), min_server(answer),
      old_server(answer);
  {
    auto hal = QmpClient::connect(hal_server.path());
    RawQmp raw(raw_server.path());
    RawQmp raw_min(min_server.path());
    RawQmp raw_old(old_server.path());
    std::vector<Series> series = make_series(*hal, raw, raw_min, raw_old);
    run_section("in-process fake QMP server (answers at once)", series, calls, rounds);
    hal->close();
  }
  return 0;
}
