// cpu_placement_test.cc - dedicated vCPU placement: one NUMA node when one has room (the fullest
// that fits), CPUs in use skipped, spreading when no node has room, and too few CPUs refused.
#include "controller/server/cpu_placement.h"

#include <gtest/gtest.h>

namespace hal::controller {
namespace {

const nlohmann::json kTwoNodes = {
    {"numaNodes", {{{"id", 0}, {"cpus", {0, 1, 2, 3}}}, {{"id", 1}, {"cpus", {4, 5}}}}}};

TEST(PickHostCpus, TheFullestNumaNodeWithRoomFirst) {
  auto placement = pick_host_cpus(kTwoNodes, {}, 2);
  ASSERT_TRUE(placement);
  EXPECT_EQ(placement->host_cpus, (std::vector<uint32_t>{4, 5}));
  EXPECT_EQ(placement->host_numa_nodes, (std::vector<uint32_t>{1, 1}));
  placement = pick_host_cpus(kTwoNodes, {}, 3);
  ASSERT_TRUE(placement);
  EXPECT_EQ(placement->host_cpus, (std::vector<uint32_t>{0, 1, 2}));
}

TEST(PickHostCpus, CpusInUseAreSkipped) {
  auto placement = pick_host_cpus(kTwoNodes, {4, 0}, 2);
  ASSERT_TRUE(placement);
  EXPECT_EQ(placement->host_cpus, (std::vector<uint32_t>{1, 2}));
}

TEST(PickHostCpus, SpreadsWhenNoNodeHasRoomAndRefusesTooFew) {
  auto placement = pick_host_cpus(kTwoNodes, {}, 5);
  ASSERT_TRUE(placement);
  EXPECT_EQ(placement->host_cpus.size(), 5u);
  EXPECT_EQ(placement->host_numa_nodes, (std::vector<uint32_t>{1, 1, 0, 0, 0}));
  EXPECT_FALSE(pick_host_cpus(kTwoNodes, {}, 7));
  EXPECT_FALSE(pick_host_cpus(kTwoNodes, {0, 1, 2, 3, 4}, 2));
  EXPECT_FALSE(pick_host_cpus(nlohmann::json::object(), {}, 1));  // no topology reported
}

}  // namespace
}  // namespace hal::controller
