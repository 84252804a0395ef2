// guest_watch_test.cc - GuestWatch with a scripted backend: a silent guest is reported once and
// cleared when output comes; a guest that writes, one that arrived by migration, one that stops
// in time, and one whose backend does not count output are never reported.
#include "controller/node/guest_watch.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace hal::node {
namespace {

using namespace std::chrono_literals;

// What the fake backend answers, and what the watch reported.
class Scripted {
 public:
  struct Report {
    std::string vm_id;
    bool silent;
    std::chrono::milliseconds silent_for;
  };
  void set(const std::string &vm_id, std::string state, std::optional<uint64_t> bytes) {
    std::lock_guard lock(mu_);
    vms_[vm_id] = GuestWatch::Probe{std::move(state), bytes};
  }
  GuestWatch::Probe probe(const std::string &vm_id) {
    std::lock_guard lock(mu_);
    ++probes_;
    auto it = vms_.find(vm_id);
    return it == vms_.end() ? GuestWatch::Probe{} : it->second;
  }
  void report(const std::string &vm_id, bool silent, std::chrono::milliseconds silent_for) {
    std::lock_guard lock(mu_);
    reports_.push_back({vm_id, silent, silent_for});
  }
  std::vector<Report> reports() {
    std::lock_guard lock(mu_);
    return reports_;
  }
  int probes() {
    std::lock_guard lock(mu_);
    return probes_;
  }
  // Waits up to 5 s for `count` reports.
  bool wait_reports(std::size_t count) {
    for (auto deadline = std::chrono::steady_clock::now() + 5s;
         std::chrono::steady_clock::now() < deadline; std::this_thread::sleep_for(5ms)) {
      if (reports().size() >= count) return true;
    }
    return false;
  }
  std::unique_ptr<GuestWatch> watch(std::chrono::milliseconds timeout) {
    return std::make_unique<GuestWatch>(
        timeout, 20ms, [this](const std::string &id) { return probe(id); },
        [this](const std::string &id, bool silent, std::chrono::milliseconds silent_for) {
          report(id, silent, silent_for);
        });
  }

 private:
  std::mutex mu_;
  std::map<std::string, GuestWatch::Probe> vms_;
  std::vector<Report> reports_;
  int probes_ = 0;
};

TEST(GuestWatch, SilentGuestIsReportedOnceThenClearedByOutput) {
  Scripted backend;
  auto watch = backend.watch(100ms);
  backend.set("vm", "Running", 0);
  watch->observe("vm", "Starting", "kvm-qemu");
  watch->observe("vm", "Running", "kvm-qemu");
  ASSERT_TRUE(backend.wait_reports(1));
  std::vector<Scripted::Report> reports = backend.reports();
  EXPECT_EQ(reports[0].vm_id, "vm");
  EXPECT_TRUE(reports[0].silent);
  EXPECT_GE(reports[0].silent_for, 100ms);
  // Still silent at the next looks: no second report.
  const int probes = backend.probes();
  while (backend.probes() < probes + 3) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(backend.reports().size(), 1u);
  backend.set("vm", "Running", 42);
  ASSERT_TRUE(backend.wait_reports(2));
  EXPECT_FALSE(backend.reports()[1].silent);
  while (watch->watched() != 0) std::this_thread::sleep_for(5ms);
}

TEST(GuestWatch, GuestThatWritesIsNeverReported) {
  Scripted backend;
  auto watch = backend.watch(30ms);
  backend.set("vm", "Running", 512);
  watch->observe("vm", "Running", "kvm-qemu");
  while (watch->watched() != 0) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(backend.probes(), 1);
  EXPECT_TRUE(backend.reports().empty());
}

TEST(GuestWatch, MigratedInOrResumedGuestIsNotWatched) {
  Scripted backend;
  auto watch = backend.watch(30ms);
  backend.set("moved", "Running", 0);
  watch->observe("moved", "Incoming", "kvm-qemu");
  watch->observe("moved", "Running", "kvm-qemu");
  EXPECT_EQ(watch->watched(), 0u);
  backend.set("paused", "Running", 100);
  watch->observe("paused", "Running", "kvm-qemu");
  watch->observe("paused", "Paused", "kvm-qemu");
  EXPECT_EQ(watch->watched(), 1u);  // a pause does not end the watch of a boot
  watch->observe("paused", "Running", "kvm-qemu");
  while (watch->watched() != 0) std::this_thread::sleep_for(5ms);
  EXPECT_TRUE(backend.reports().empty());
}

TEST(GuestWatch, StoppedOrDeletedBeforeItsTimeIsNotReported) {
  Scripted backend;
  auto watch = backend.watch(200ms);
  backend.set("a", "Running", 0);
  backend.set("b", "Running", 0);
  watch->observe("a", "Running", "kvm-qemu");
  watch->observe("b", "Running", "kvm-qemu");
  EXPECT_EQ(watch->watched(), 2u);
  watch->observe("a", "Stopped", "kvm-qemu");
  watch->observe("b", "", "kvm-qemu");
  EXPECT_EQ(watch->watched(), 0u);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(backend.probes(), 0);
  EXPECT_TRUE(backend.reports().empty());
}

TEST(GuestWatch, BackendWithoutOutputCountIsNotWatchedAgain) {
  Scripted backend;
  auto watch = backend.watch(20ms);
  backend.set("m1", "Running", std::nullopt);
  watch->observe("m1", "Running", "mock");
  while (backend.probes() == 0 || watch->watched() != 0) std::this_thread::sleep_for(5ms);
  watch->observe("m2", "Running", "mock");
  EXPECT_EQ(watch->watched(), 0u);
  watch->observe("q1", "Running", "kvm-qemu");  // other backends still are
  EXPECT_EQ(watch->watched(), 1u);
  EXPECT_TRUE(backend.reports().empty());
}

TEST(GuestWatch, ZeroTimeoutIsRefused) {
  EXPECT_THROW(GuestWatch(0ms, 1ms, nullptr, nullptr), std::invalid_argument);
}

}  // namespace
}  // namespace hal::node
