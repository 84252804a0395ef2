// observed_vms_test.cc - the observed VM states on their own: registration lists, answers and
// events in order (an event older than a recorded answer is skipped, an echo is not news), events
// held back during an action and reported by its end, guest silence reports, the vm → nodes index
// and unknown nodes.
#include "controller/server/observed_vms.h"

#include <gtest/gtest.h>

namespace hal::controller {
namespace {

v1::NodeEvent event(const std::string &type, const std::string &vm_id, const std::string &state,
                    uint64_t sequence, const std::string &detail = "") {
  v1::NodeEvent e;
  e.set_type(type);
  e.set_vm_id(vm_id);
  e.set_state(state);
  e.set_sequence(sequence);
  e.set_detail_json(detail);
  return e;
}

TEST(ObservedVms, UnknownNodesKnowNothingAndRegistrationReplacesTheList) {
  ObservedVms vms;
  EXPECT_FALSE(vms.state("n1", "a"));
  EXPECT_FALSE(vms.record("n1", "a", "Running"));
  vms.reset_node("n1", {{"a", "Running"}, {"b", "Paused"}});
  EXPECT_EQ(vms.state("n1", "a"), "Running");
  EXPECT_EQ(vms.state("n1", "zz"), "");
  vms.reset_node("n1", {{"b", "Running"}});
  EXPECT_EQ(vms.state("n1", "a"), "");
  EXPECT_EQ(vms.vms_of("n1"), (std::map<std::string, std::string>{{"b", "Running"}}));
  vms.forget_node("n1");
  EXPECT_FALSE(vms.state("n1", "b"));
  EXPECT_TRUE(vms.nodes_with("b").empty());
}

TEST(ObservedVms, AnEventOlderThanARecordedAnswerIsSkippedAndAnEchoIsNotNews) {
  ObservedVms vms;
  vms.reset_node("n1", {});
  EXPECT_TRUE(vms.record("n1", "a", "Running", 5));
  EXPECT_FALSE(vms.observe_event("n1", event("state-changed", "a", "Starting", 4)));
  EXPECT_EQ(vms.state("n1", "a"), "Running");
  EXPECT_FALSE(vms.observe_event("n1", event("state-changed", "a", "Running", 6)));  // echo
  EXPECT_TRUE(vms.observe_event("n1", event("state-changed", "a", "Paused", 7)));
  EXPECT_EQ(vms.state("n1", "a"), "Paused");
  EXPECT_TRUE(vms.observe_event("n1", event("vm-deleted", "a", "", 8)));
  EXPECT_EQ(vms.state("n1", "a"), "");
  EXPECT_TRUE(vms.observe_event("n1", event("guest-crashed", "b", "Running", 9)));
  EXPECT_EQ(vms.state("n1", "b"), "Crashed");
}

TEST(ObservedVms, EventsDuringAnActionAreHeldBackAndItsEndSaysIfOneIsNewer) {
  ObservedVms vms;
  vms.reset_node("n1", {{"a", "Running"}});
  vms.begin_action("n1", "a");
  EXPECT_FALSE(vms.observe_event("n1", event("state-changed", "a", "Paused", 3)));
  EXPECT_EQ(vms.state("n1", "a"), "Paused");  // recorded, not reported
  EXPECT_TRUE(vms.end_action("n1", "a", 2));  // the answer predates the event
  vms.begin_action("n1", "a");
  EXPECT_FALSE(vms.observe_event("n1", event("state-changed", "a", "Running", 4)));
  EXPECT_FALSE(vms.end_action("n1", "a", 4));
  EXPECT_FALSE(vms.end_action("n1", "a", 0));  // no action in flight
  EXPECT_TRUE(vms.observe_event("n1", event("state-changed", "a", "Paused", 5)));
}

TEST(ObservedVms, GuestSilenceIsKeptForRunningGuestsOnly) {
  ObservedVms vms;
  vms.reset_node("n1", {{"a", "Running"}});
  EXPECT_TRUE(vms.observe_event(
      "n1", event("guest-console", "a", "", 2, R"({"silent":true,"message":"quiet for 30 s"})")));
  EXPECT_EQ(vms.guest_silence("n1", "a"), "quiet for 30 s");
  vms.observe_event("n1", event("guest-console", "ghost", "", 3, R"({"silent":true})"));
  EXPECT_EQ(vms.guest_silence("n1", "ghost"), "");  // not a VM of the node
  EXPECT_TRUE(vms.observe_event("n1", event("state-changed", "a", "Stopped", 4)));
  EXPECT_EQ(vms.guest_silence("n1", "a"), "");
  vms.record("n1", "a", "Running");
  vms.observe_event("n1", event("guest-console", "a", "", 5, "not json"));
  EXPECT_EQ(vms.guest_silence("n1", "a"), "");
}

TEST(ObservedVms, NodesReportingAVmAreIndexedByName) {
  ObservedVms vms;
  vms.reset_node("n2", {{"a", "Migrated"}});
  vms.reset_node("n1", {{"a", "Running"}});
  EXPECT_EQ(vms.nodes_with("a"), (std::vector<std::pair<std::string, std::string>>{
                                     {"n1", "Running"}, {"n2", "Migrated"}}));
  vms.record("n2", "a", "");
  EXPECT_EQ(vms.nodes_with("a"),
            (std::vector<std::pair<std::string, std::string>>{{"n1", "Running"}}));
}

}  // namespace
}  // namespace hal::controller
