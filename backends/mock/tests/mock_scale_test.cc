// mock_scale_test.cc - the mock holds 100,000 VMs: create, list, look up and delete them all
// through the C ABI in a few seconds with modest memory.
#include <fstream>

#include "mock_harness.h"

namespace hal::mock::test {
namespace {

#if defined(__SANITIZE_ADDRESS__) || !defined(NDEBUG)
constexpr double kSlack = 20;  // sanitizers / -O0: check correctness, bound only loosely
#else
constexpr double kSlack = 1;
#endif

/** Resident set size of this process in KiB (from /proc/self/status). */
long RssKiB() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return 0;
}

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

TEST(MockScale, HundredThousandVms) {
  constexpr int kVms = 100000;
  Backend be(json{{"instance", Instance()}});
  ASSERT_EQ(be.status, HAL_OK);
  long rss_before = RssKiB();
  auto t0 = std::chrono::steady_clock::now();
  hal_error error = Err();
  std::string spec = Spec("vm-XXXXXXX").dump();
  size_t at = spec.find("vm-XXXXXXX");
  for (int i = 0; i < kVms; ++i) {
    std::string name = "vm-" + std::to_string(1000000 + i);
    spec.replace(at, 10, name);
    hal_vm *vm = nullptr;
    ASSERT_EQ(T().vm_create(be.b, spec.c_str(), i % 10 == 0 ? HAL_CREATE_START : 0, &vm, &error),
              HAL_OK)
        << error.message;
    T().vm_release(vm);
  }
  double create_s = Seconds(t0);
  long rss_after = RssKiB();

  auto t1 = std::chrono::steady_clock::now();
  char *out = nullptr;
  ASSERT_EQ(T().vm_list(be.b, 0, &out, &error), HAL_OK);
  json list = json::parse(Take(out));
  double list_s = Seconds(t1);
  ASSERT_EQ(list["vms"].size(), size_t{kVms});
  size_t running = 0;
  for (const auto &vm : list["vms"]) running += vm["state"] == "Running";
  EXPECT_EQ(running, size_t{kVms / 10});

  auto t2 = std::chrono::steady_clock::now();
  for (int i = 0; i < kVms; ++i) {
    std::string name = "vm-" + std::to_string(1000000 + i);
    hal_vm *vm = nullptr;
    ASSERT_EQ(T().vm_lookup(be.b, name.c_str(), 0, &vm, &error), HAL_OK);
    if (i % 10 == 0) {
      ASSERT_EQ(T().vm_force_stop(vm, 0, &error), HAL_OK);
    }
    ASSERT_EQ(T().vm_delete(vm, 0, &error), HAL_OK) << error.message;
    T().vm_release(vm);
  }
  double delete_s = Seconds(t2);
  ASSERT_EQ(T().vm_list(be.b, 0, &out, &error), HAL_OK);
  EXPECT_EQ(json::parse(Take(out))["vms"].size(), 0u);

  long grown_mib = (rss_after - rss_before) / 1024;
  std::printf("100k VMs: create %.2fs, list %.2fs, delete %.2fs, +%ld MiB RSS\n", create_s, list_s,
              delete_s, grown_mib);
  // Generous bounds (2 cores, possibly sanitizers): the point is "seconds", not minutes.
  EXPECT_LT(create_s, 20.0 * kSlack);
  EXPECT_LT(list_s, 5.0 * kSlack);
  EXPECT_LT(delete_s, 20.0 * kSlack);
  EXPECT_LT(grown_mib, kSlack > 1 ? 4000 : 400);
}

}  // namespace
}  // namespace hal::mock::test
