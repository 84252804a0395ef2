// migration_rules_test.cc - Cloud Hypervisor release numbers, the vm.send-migration body the
// backend sends to each release (downtime and timeout fields only where they exist, v52.0 on, a
// clear refusal where an older release would silently ignore them), and how the outcome of an
// outgoing migration is decided for each release (reply, events, the VMM's exit).
#include <gtest/gtest.h>

#include "backends/cloud-hypervisor/ch_version.h"
#include "backends/cloud-hypervisor/migration.h"
#include "backends/cloud-hypervisor/send_outcome.h"
#include "hal/plugin.hpp"

namespace hal::cloud_hypervisor {
namespace {
using nlohmann::json;

TEST(ChVersion, ParsesPingVersionAndBuildVersion) {
  EXPECT_EQ(parse_ch_version("53.0.0"), (ChVersion{53, 0}));
  EXPECT_EQ(parse_ch_version("", "v50.2-12-gabcdef-dirty"), (ChVersion{50, 2}));
  EXPECT_EQ(parse_ch_version("junk", "v52.0-hal-ch-emulator"), (ChVersion{52, 0}));
  EXPECT_FALSE(parse_ch_version("", "hal-ch-emulator").has_value());
  EXPECT_LT((ChVersion{44, 9}), kOldestSupported);
  EXPECT_EQ((ChVersion{53, 0}).str(), "v53.0");
  EXPECT_FALSE(send_migration_is_async({52, 0}));
  EXPECT_TRUE(send_migration_is_async({53, 0}));
  EXPECT_FALSE(has_migration_events({51, 2}));
}

TEST(SendMigrationBody, LimitsOnlyFromV52) {
  MigrationParams params = parse_migration_params(R"({"uri": "tcp:127.0.0.1:1"})", {});
  json body = send_migration_body(params, "unix:/r", {53, 0});
  EXPECT_EQ(body["destination_url"], "unix:/r");
  EXPECT_EQ(body["downtime_ms"], 300);
  EXPECT_EQ(body["timeout_s"], kNoTimeoutSeconds)
      << "no timeout is said, not left to the 1 h default";
  EXPECT_EQ(body["timeout_strategy"], "Cancel");
  params =
      parse_migration_params(R"({"uri": "tcp:h:1", "maxDowntimeMs": 50, "timeoutMs": 1500})", {});
  body = send_migration_body(params, "unix:/r", {52, 0});
  EXPECT_EQ(body["downtime_ms"], 50);
  EXPECT_EQ(body["timeout_s"], 2);
  // v51 and older ignore the fields: nothing asked for, nothing sent.
  params = parse_migration_params(R"({"uri": "tcp:h:1"})", {});
  EXPECT_EQ(send_migration_body(params, "unix:/r", {51, 0}),
            json({{"destination_url", "unix:/r"}}));
}

TEST(SendMigrationBody, OlderReleasesRefuseDowntimeAndTimeoutByName) {
  for (const char *p :
       {R"({"uri": "tcp:h:1", "maxDowntimeMs": 50})", R"({"uri": "tcp:h:1", "timeoutMs": 1000})"}) {
    MigrationParams params = parse_migration_params(p, {});
    try {
      send_migration_body(params, "unix:/r", {48, 0});
      ADD_FAILURE() << p << " was accepted for v48.0";
    } catch (const hal::plugin::Failure &f) {
      EXPECT_EQ(f.status, HAL_UNSUPPORTED);
      EXPECT_NE(
          std::string(f.what()).find(json::parse(p).contains("timeoutMs") ? "params.timeoutMs"
                                                                          : "params.maxDowntimeMs"),
          std::string::npos)
          << f.what();
      EXPECT_NE(std::string(f.what()).find("v48.0"), std::string::npos) << f.what();
    }
  }
  MigrationPolicy policy;
  policy.max_downtime_ms = 100;
  EXPECT_THROW(send_migration_body(parse_migration_params(R"({"uri": "tcp:h:1"})", policy),
                                   "unix:/r", {48, 0}),
               hal::plugin::Failure)
      << "a downtime limit from the spec's policy is refused too";
}

SendSignals replied(int status, std::string error = {}) {
  SendSignals s;
  s.reply_status = status;
  s.reply_error = std::move(error);
  return s;
}

TEST(DecideSend, V53TheReplyOnlyMeansStarted) {
  const ChVersion v53{53, 0};
  EXPECT_EQ(decide_send(v53, {}).verdict, SendVerdict::kPending);
  SendSignals s = replied(204);
  EXPECT_EQ(decide_send(v53, s).verdict, SendVerdict::kPending) << "204 is not done";
  s.event = -1;
  SendDecision d = decide_send(v53, s);
  EXPECT_EQ(d.verdict, SendVerdict::kFailed);
  EXPECT_NE(d.error.find("migration-failed"), std::string::npos) << d.error;
  s.event = 1;
  EXPECT_EQ(decide_send(v53, s).verdict, SendVerdict::kCompleted);
  // Refused at once (500): failed, nothing started.
  EXPECT_EQ(decide_send(v53, replied(500, "There is already an ongoing migration")).verdict,
            SendVerdict::kFailed);
  // No reply (connection trouble): the events or the exit decide.
  EXPECT_EQ(decide_send(v53, replied(-1, "reset")).verdict, SendVerdict::kPending);
}

TEST(DecideSend, TheSourceVmmsExitDecidesWhenTheEventIsLost) {
  SendSignals s = replied(204);
  s.exited = true;
  s.exited_cleanly = true;
  EXPECT_EQ(decide_send({53, 0}, s).verdict, SendVerdict::kCompleted);
  s.exited_cleanly = false;
  s.exit_how = "killed by signal 9 (Killed)";
  SendDecision d = decide_send({53, 0}, s);
  EXPECT_EQ(d.verdict, SendVerdict::kFailed);
  EXPECT_NE(d.error.find("signal 9"), std::string::npos) << d.error;
  // Up to v52 the VMM may exit before its 204 is read: a clean exit is still the success.
  s = replied(-1, "connection closed");
  s.exited = s.exited_cleanly = true;
  EXPECT_EQ(decide_send({52, 0}, s).verdict, SendVerdict::kCompleted);
}

TEST(DecideSend, BeforeV53TheReplyIsTheOutcome) {
  EXPECT_EQ(decide_send({52, 0}, replied(204)).verdict, SendVerdict::kCompleted);
  EXPECT_EQ(decide_send({48, 0}, replied(204)).verdict, SendVerdict::kCompleted);
  EXPECT_EQ(decide_send({48, 0}, replied(500, "Broken pipe")).verdict, SendVerdict::kFailed);
  // v48 has no events: a lost reply is a failure, nothing else will come.
  EXPECT_EQ(decide_send({48, 0}, replied(-1, "timeout")).verdict, SendVerdict::kFailed);
}

}  // namespace
}  // namespace hal::cloud_hypervisor
