// migration_params_test.cc - unit tests of migration parameter parsing and progress mapping.
#include <gtest/gtest.h>

#include "backends/kvm-qemu/migration.h"
#include "hal/plugin.hpp"

namespace hal::kvm_qemu {
namespace {

TEST(MigrationParams, FallsBackToSpecPolicy) {
  MigrationPolicy policy;
  policy.max_downtime_ms = 500;
  policy.multifd_channels = 4;
  MigrationParams params = parse_migration_params(R"({"uri":"tcp:127.0.0.1:4444"})", policy);
  EXPECT_EQ(params.uri, "tcp:127.0.0.1:4444");
  EXPECT_EQ(params.max_downtime_ms, 500u);
  EXPECT_EQ(params.multifd_channels, 4u);
  EXPECT_TRUE(params.auto_converge);
}

TEST(MigrationParams, OverridesAndRejectsUnknown) {
  MigrationParams params = parse_migration_params(
      R"({"uri":"unix:/tmp/m.sock","maxDowntimeMs":100,"postCopy":true,"timeoutMs":9000})", {});
  EXPECT_EQ(params.max_downtime_ms, 100u);
  EXPECT_TRUE(params.post_copy);
  EXPECT_EQ(params.timeout_ms, 9000u);
  EXPECT_THROW(parse_migration_params(R"({"bogus":1})", {}), hal::plugin::Failure);
  EXPECT_THROW(parse_migration_params(R"({"maxDowntimeMs":-1})", {}), hal::plugin::Failure);
  EXPECT_THROW(parse_migration_params(R"({"uri":"rdma:1.2.3.4:5"})", {}), hal::plugin::Failure);
  EXPECT_THROW(parse_migration_params("not json", {}), hal::plugin::Failure);
}

TEST(MigrationParams, QmpArguments) {
  MigrationParams params;
  params.max_downtime_ms = 250;
  params.bandwidth_mibps = 100;
  params.multifd_channels = 2;
  nlohmann::json caps = qmp_capabilities_for(params, true)["capabilities"];
  EXPECT_EQ(caps[0], nlohmann::json({{"capability", "events"}, {"state", true}}));
  EXPECT_EQ(caps.size(), 4u);
  nlohmann::json args = qmp_parameters_for(params);
  EXPECT_EQ(args["downtime-limit"], 250);
  EXPECT_EQ(args["max-bandwidth"], 100ull * 1024 * 1024);
  EXPECT_EQ(args["multifd-channels"], 2);
}

TEST(MigrationProgress, FromQueryMigrate) {
  nlohmann::json reply = nlohmann::json::parse(R"({"status":"active","expected-downtime":42,
      "ram":{"transferred":1000,"remaining":2000,"total":3000,"dirty-pages-rate":10,"page-size":4096}})");
  nlohmann::json progress = progress_from_query_migrate(reply);
  EXPECT_EQ(progress["status"], "active");
  EXPECT_EQ(progress["transferredBytes"], 1000);
  EXPECT_EQ(progress["remainingBytes"], 2000);
  EXPECT_EQ(progress["totalBytes"], 3000);
  EXPECT_EQ(progress["dirtyRateBytesPerSec"], 40960);
  EXPECT_EQ(progress["expectedDowntimeMs"], 42);
  EXPECT_EQ(hal_migration_status("postcopy-active"), "postcopy");
  EXPECT_EQ(hal_migration_status("cancelling"), "active");
  EXPECT_TRUE(is_terminal_status("cancelled"));
  EXPECT_EQ(progress_from_query_migrate(nlohmann::json::object())["status"], "none");
}

}  // namespace
}  // namespace hal::kvm_qemu
