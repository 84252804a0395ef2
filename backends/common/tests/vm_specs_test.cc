// vm_specs_test.cc - vm_create's spec parsed with the ABI's errors, the specs found in a state
// root for re-adoption, and the TDX refusal of an incoming migration.
#include "backends/common/vm_specs.h"

#include <gtest/gtest.h>

#include "backends/common/state_dir.h"
#include "backends/common/state_files.h"
#include "hal/plugin.hpp"
#include "testing/temp_dir.h"

namespace hal::backend_common {
namespace {
namespace fs = std::filesystem;

// A valid spec of VM `name`.
std::string spec_of(const std::string &name) {
  return nlohmann::json({{"apiVersion", "hal.dev/v1"},
                         {"name", name},
                         {"cpu", {{"vcpus", 2}}},
                         {"memory", {{"size", "1Gi"}}}})
      .dump();
}

// The failure `fn` throws (status HAL_OK and "" when none).
template <class Fn>
std::pair<hal_status, std::string> failure_of(Fn &&fn) {
  try {
    fn();
  } catch (const hal::plugin::Failure &failure) {
    return {failure.status, failure.what()};
  }
  return {HAL_OK, ""};
}

TEST(ParseSpec, GivesTheDocumentAndTheTypedSpec) {
  const ParsedSpec parsed = parse_spec(spec_of("vm1"));
  EXPECT_EQ(parsed.doc["name"], "vm1");
  EXPECT_EQ(parsed.spec.name, "vm1");
  EXPECT_EQ(parsed.spec.cpu.vcpus, 2u);
}

TEST(ParseSpec, BadSpecsAreInvalidArgumentNamingTheProblem) {
  EXPECT_EQ(failure_of([] { parse_spec("{nope"); }),
            std::make_pair(HAL_INVALID_ARGUMENT, std::string("spec: not valid JSON")));
  const auto [status, message] = failure_of([] {
    parse_spec(R"({"apiVersion":"hal.dev/v1","name":"vm1","cpu":{"vcpus":0},
                   "memory":{"size":"1Gi"}})");
  });
  EXPECT_EQ(status, HAL_INVALID_ARGUMENT);
  EXPECT_NE(message.find("cpu.vcpus"), std::string::npos) << message;
}

TEST(StoredVms, FindsEachDirectoryWhoseSpecNamesIt) {
  testing::TempDir root;
  auto keep = [&](const std::string &dir, const std::string &spec) {
    fs::create_directories(root.path() / dir);
    if (!spec.empty()) write_file_atomic(root.path() / dir / kSpecFileName, spec);
  };
  keep("vm1", spec_of("vm1"));
  keep("vm2", spec_of("vm2"));
  keep("renamed", spec_of("other"));         // names another directory: not this one's VM
  keep("garbled", "{not json");              // unreadable
  keep("invalid", R"({"name":"invalid"})");  // not a valid VM spec
  keep("probe-x1", "");                      // no spec at all
  write_file_atomic(root.path() / "file", spec_of("file"));
  // A symlink to a VM dir elsewhere is not a state dir of this root (issue 25).
  testing::TempDir elsewhere;
  fs::create_directories(elsewhere.path() / "vm3");
  write_file_atomic(elsewhere.path() / "vm3" / kSpecFileName, spec_of("vm3"));
  fs::create_directory_symlink(elsewhere.path() / "vm3", root.path() / "vm3");
  std::vector<std::string> names;
  for (const StoredVm &vm : stored_vms(root.path())) {
    EXPECT_EQ(vm.dir, root.path() / vm.spec.spec.name);
    EXPECT_EQ(vm.spec.doc["name"], vm.spec.spec.name);
    names.push_back(vm.spec.spec.name);
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"vm1", "vm2"}));
}

TEST(StoredVms, AMissingRootHoldsNothing) {
  EXPECT_TRUE(stored_vms("/nonexistent/hal-state-root").empty());
}

TEST(RefuseTdxIncoming, OnlyTdxSpecsAreRefused) {
  const auto [status, message] =
      failure_of([] { refuse_tdx_incoming(R"({"name":"t","launchSecurity":{"type":"tdx"}})"); });
  EXPECT_EQ(status, HAL_UNSUPPORTED);
  EXPECT_EQ(message,
            "migration_prepare_incoming: TDX VMs cannot be live-migrated (spec.launchSecurity)");
  for (const char *spec : {R"({"name":"t"})", R"({"launchSecurity":{"type":"none"}})",
                           R"({"launchSecurity":"tdx"})", "[]", "{bad"}) {
    EXPECT_EQ(failure_of([&] { refuse_tdx_incoming(spec); }).first, HAL_OK) << spec;
  }
}

}  // namespace
}  // namespace hal::backend_common
