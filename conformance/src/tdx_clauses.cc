// tdx_clauses.cc - clauses of the "tdx" profile: the host-info TDX answer matches the host, a
// TDX spec on a host without TDX fails UNSUPPORTED naming what is missing, and where TDX exists
// the guest launches as a TD.
#include <gtest/gtest.h>

#include <algorithm>
#include <regex>

#include "clause.h"
#include "guest.h"
#include "hal/host.hpp"
#include "host_facts.h"
#include "suite.h"

namespace hal::conformance {
namespace {

constexpr const char *kTdx = "tdx";

Suite &S() {
  return suite();
}

nlohmann::json tdx_overrides() {
  return {{"launchSecurity", {{"type", "tdx"}, {"tdx", {{"attributes", "0x10000000"}}}}}};
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

}  // namespace

HAL_CLAUSE(TDX_001, kTdx, MUST, "",
           "host info reports tdx.supported and, when TDX is unsupported, a non-empty reason "
           "naming what is missing") {
  ASSERT_TRUE(S().host_info.contains("tdx") && S().host_info["tdx"].is_object())
      << S().host_info.dump();
  const auto &tdx = S().host_info["tdx"];
  ASSERT_TRUE(tdx.contains("supported") && tdx["supported"].is_boolean());
  if (!tdx["supported"].get<bool>()) {
    EXPECT_FALSE(tdx.value("reason", "").empty()) << "tdx unsupported without a reason";
  }
}

HAL_CLAUSE(TDX_002, kTdx, MUST, "",
           "features.tdx is declared only when host info says TDX is supported") {
  if (S().declares_feature("tdx")) {
    EXPECT_TRUE(S().host_tdx()) << "features.tdx declared but host info says unsupported: "
                                << S().host_info["tdx"].dump();
  }
}

HAL_CLAUSE(TDX_003, kTdx, MUST, "",
           "the host-info answer matches the host: a backend on a real accelerator (kvm) reports "
           "the host's TDX support and NUMA node count, and a TCG backend never reports TDX") {
  HostFacts facts = read_host_facts();
  std::string accel = S().host_info.value("accelerator", "");
  ::testing::Test::RecordProperty("hostFacts", facts.to_json().dump());
  if (accel == "kvm") {
    EXPECT_EQ(facts.accelerator, "kvm") << "backend reports kvm but /dev/kvm is not usable here";
    EXPECT_EQ(S().host_tdx(), facts.tdx)
        << "host info tdx " << S().host_info["tdx"].dump() << " vs host: " << facts.tdx_reason;
    EXPECT_EQ(static_cast<int>(S().host_nodes().size()), facts.numa_nodes)
        << "NUMA nodes reported vs /sys/devices/system/node";
  } else if (accel == "tcg") {
    EXPECT_FALSE(S().host_tdx()) << "TDX needs KVM; a TCG backend cannot offer it";
  } else {
    ::testing::Test::RecordProperty(
        "note", "simulated accelerator '" + accel + "': host match not applicable");
  }
}

HAL_CLAUSE(TDX_004, kTdx, MUST, "",
           "on a host without TDX, a TDX spec fails with UNSUPPORTED (at vm_create or vm_start) "
           "whose message names the missing piece, and no TDX VM runs") {
  if (S().host_tdx()) GTEST_SKIP() << "not applicable: the host supports TDX (see TDX-005)";
  Backend backend = S().open();
  Cleanup cleanup(backend);
  std::string name = S().vm_name("notdx");
  cleanup.add(name);
  Vm vm;
  Outcome o = outcome_of([&] { vm = backend.create(S().spec(name, tdx_overrides())); });
  if (o.status == HAL_OK) o = outcome_of([&] { vm.start(); });
  EXPECT_EQ(status_name(o.status), "UNSUPPORTED") << o.str();
  std::string msg = lower(o.message);
  std::string reason =
      lower(S().host_info.value("tdx", nlohmann::json::object()).value("reason", ""));
  EXPECT_TRUE(msg.find("tdx") != std::string::npos ||
              (!reason.empty() && msg.find(reason) != std::string::npos))
      << "message does not name TDX or the missing piece: " << o.message;
  if (vm) {
    hal_vm_state st = HAL_VM_STATE_UNKNOWN;
    outcome_of([&] { st = vm.state(); });
    EXPECT_NE(state_name(st), "Running");
  }
}

HAL_CLAUSE(TDX_005, kTdx, MUST, "features.tdx",
           "where TDX exists, a TDX spec launches as a TD: RUNNING, and the guest (console "
           "marker) or the backend's info confirms TDX") {
  Backend backend = S().open();
  Cleanup cleanup(backend);
  std::string name = S().vm_name("td");
  cleanup.add(name);
  Vm vm = backend.create(S().spec(name, tdx_overrides()));
  vm.start();
  ASSERT_EQ(state_name(wait_state(vm, HAL_VM_STATE_RUNNING, S().wait)), "Running");
  if (auto path = console_socket(vm)) {
    static const std::regex td(R"(HAL-GUEST: .*(tdx|TDX|tdx_guest))");
    if (read_console_marker(*path, td, S().wait)) return;
  }
  nlohmann::json info = vm.info();
  std::string type = info.value("spec", nlohmann::json::object())
                         .value("launchSecurity", nlohmann::json::object())
                         .value("type", "");
  bool info_td = type == "tdx" || info.value("tdx", false) ||
                 info.value("guest", nlohmann::json::object()).value("tdx", false);
  EXPECT_TRUE(info_td) << "neither the console nor info confirms a TD: " << info.dump();
}

}  // namespace hal::conformance
