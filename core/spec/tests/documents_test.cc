// documents_test.cc - the example specs and the other HAL documents against their schemas.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "core/spec/embedded_schemas.h"
#include "core/spec/vm_spec.h"
#include "core/spec/vm_spec_validation.h"

namespace hal {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;

std::string read_example(const std::string &name) {
  std::ifstream in(std::string(HAL_EXAMPLES_SPECS_DIR) + "/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class ExampleSpec : public ::testing::TestWithParam<const char *> {};

TEST_P(ExampleSpec, IsValid) {
  const std::string text = read_example(GetParam());
  ASSERT_FALSE(text.empty()) << GetParam();
  EXPECT_EQ(format_errors(validate_vm_spec_text(text)), "");
  EXPECT_NO_THROW(parse_vm_spec(json::parse(text)));
}

INSTANTIATE_TEST_SUITE_P(Examples, ExampleSpec,
                         ::testing::Values("minimal.json", "numa-gpu.json", "tdx.json"));

TEST(EmbeddedSchemas, AllPresentAndParsed) {
  EXPECT_THAT(embedded_schema_names(), ElementsAre("capabilities", "host-info", "migration-params",
                                                   "migration-progress", "vm-info", "vm-spec"));
  EXPECT_NE(embedded_schema("vm-spec.schema.json"), nullptr);
  EXPECT_EQ(embedded_schema("nope"), nullptr);
  ASSERT_TRUE(embedded_schema_text("host-info"));
  EXPECT_NE(embedded_schema_text("host-info")->find("numaNodes"), std::string_view::npos);
}

TEST(Documents, UnknownSchema) {
  EXPECT_THAT(validate_document("nope", json::object(), "x"),
              ElementsAre(FieldError{"x", "unknown schema \"nope\""}));
}

TEST(Documents, Capabilities) {
  json caps = json::parse(R"({"abiVersion":"1.1","hypervisor":"qemu","accelerator":"kvm",
      "operations":{"vm_create":true,"vm_snapshot":false},
      "features":{"liveMigration":true,"numa":true,"vcpuPinning":true,"tdx":false,
                  "console":true,"snapshot":false,"hotplug":false},
      "limits":{"maxVcpus":288}})");
  EXPECT_TRUE(validate_document("capabilities", caps, "capabilities").empty());
  caps["features"]["numa"] = "yes";
  caps["limits"]["maxVcpus"] = -1;
  caps.erase("hypervisor");
  EXPECT_THAT(validate_document("capabilities", caps, "capabilities"),
              ElementsAre(FieldError{"capabilities.hypervisor", "is required"},
                          FieldError{"capabilities.features.numa", "must be boolean, got string"},
                          FieldError{"capabilities.limits.maxVcpus", "must be >= 0"}));
}

TEST(Documents, HostInfo) {
  json info = json::parse(R"({"cpus":4,"memory":8589934592,
      "numaNodes":[{"id":0,"cpus":[0,1,2,3],"memory":8589934592}],
      "pciDevices":[{"address":"0000:00:02.0","numaNode":-1,"vendor":"0x8086","device":"0x1234",
                     "class":"0x030000"}],
      "tdx":{"supported":false,"reason":"no /dev/kvm"},"accelerator":"tcg"})");
  EXPECT_TRUE(validate_document("host-info", info, "hostInfo").empty());
  info["pciDevices"][0]["vendor"] = "8086";
  EXPECT_THAT(
      validate_document("host-info", info, "hostInfo"),
      ElementsAre(FieldError{"hostInfo.pciDevices[0].vendor", "must be a hex id like 0x10de"}));
}

TEST(Documents, MigrationParamsAndProgress) {
  EXPECT_TRUE(validate_document("migration-params",
                                json::parse(R"({"uri":"tcp:10.0.0.2:4444","maxDowntimeMs":300,
                                  "bandwidthMiBps":1000,"autoConverge":true,"postCopy":false,
                                  "multifdChannels":4,"timeoutMs":60000})"),
                                "params")
                  .empty());
  EXPECT_THAT(validate_document("migration-params", json::parse(R"({"uri":"ftp://x"})"), "params"),
              ElementsAre(FieldError{"params.uri",
                                     "must be a migration URI like "
                                     "tcp:10.0.0.2:4444 or unix:/path"}));
  // tls (hal.h 1.1, 2027-01): a directory of PEM files, the target's name, accepted subjects.
  EXPECT_TRUE(validate_document("migration-params",
                                json::parse(R"({"uri":"tcp:10.0.0.2:4444","tls":{
                                  "dir":"/var/lib/hal/node/migration-tls","hostname":"node-b",
                                  "peerSubjects":["O=system:nodes,CN=system:node:*"]}})"),
                                "params")
                  .empty());
  EXPECT_THAT(
      validate_document("migration-params", json::parse(R"({"tls":{"dir":"rel"}})"), "params"),
      ElementsAre(FieldError{"params.tls.dir", "must be an absolute directory path"}));
  EXPECT_FALSE(
      validate_document("migration-params", json::parse(R"({"tls":{"hostname":"b"}})"), "params")
          .empty());
  EXPECT_FALSE(validate_document("migration-params",
                                 json::parse(R"({"tls":{"dir":"/d","verify":false}})"), "params")
                   .empty());
  EXPECT_TRUE(validate_document("migration-progress",
                                json::parse(R"({"status":"active","transferredBytes":10,
                                  "remainingBytes":20,"totalBytes":30,"dirtyRateBytesPerSec":5,
                                  "expectedDowntimeMs":100})"),
                                "progress")
                  .empty());
  EXPECT_THAT(
      validate_document("migration-progress", json::parse(R"({"status":"done"})"), "progress"),
      ElementsAre(FieldError{"progress.status",
                             "must be one of \"none\", \"setup\", \"active\", "
                             "\"postcopy\", \"completed\", \"failed\", \"cancelled\", "
                             "got \"done\""}));
}

TEST(Documents, VmInfoChecksEmbeddedSpec) {
  json info = {{"id", "demo"},
               {"state", "Running"},
               {"pid", 1234},
               {"spec", json::parse(read_example("numa-gpu.json"))},
               {"vcpuThreads", {{{"vcpu", 0}, {"tid", 1235}, {"affinity", {0}}}}},
               {"numaPlacement", {{{"guestNode", 0}, {"hostNodes", {0}}, {"policy", "bind"}}}}};
  EXPECT_EQ(format_errors(validate_document("vm-info", info, "info")), "");
  info["spec"]["cpu"]["vcpus"] = 9;
  EXPECT_THAT(validate_document("vm-info", info, "info"),
              ElementsAre(FieldError{"info.spec.cpu.topology",
                                     "sockets*cores*threads = 2*4*1 = 8 must equal cpu.vcpus (9)"},
                          FieldError{"info.spec.numa.nodes", "vCPU 8 is in no node"}));
  info["state"] = "running";
  EXPECT_EQ(validate_document("vm-info", info, "info").size(), 1u);
}

}  // namespace
}  // namespace hal
