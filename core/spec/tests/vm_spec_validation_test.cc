// vm_spec_validation_test.cc - every VM spec rule violated once, with the exact path and message.
#include "core/spec/vm_spec_validation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace hal {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;

// A valid spec using most sections; each test breaks one thing.
json base() {
  return json::parse(R"({
    "apiVersion": "hal.dev/v1", "name": "demo",
    "cpu": {"vcpus": 4, "topology": {"sockets": 2, "cores": 2, "threads": 1}, "model": "host",
            "pinning": [{"vcpu": 0, "hostCpus": [0]}, {"vcpu": 1, "hostCpus": [1]}]},
    "memory": {"size": "1Gi", "hugepages": "none"},
    "numa": {"nodes": [
      {"id": 0, "vcpus": [0, 1], "memory": "512Mi", "hostNodes": [0], "policy": "bind"},
      {"id": 1, "vcpus": [2, 3], "memory": "512Mi", "hostNodes": [1], "policy": "preferred"}]},
    "disks": [{"name": "root", "path": "/var/lib/hal/root.qcow2", "format": "qcow2",
               "readOnly": false, "bus": "virtio"}],
    "nics": [{"name": "net0", "type": "user", "model": "virtio", "mac": "52:54:00:12:34:56"}],
    "hostDevices": [
      {"name": "gpu0", "type": "pci", "pciAddress": "0000:3b:00.0", "guestNumaNode": 0},
      {"name": "standin", "type": "emulated", "model": "e1000e", "hostNumaNode": 1,
       "guestNumaNode": 1}],
    "boot": {"kernel": "/path/vmlinuz", "initrd": "/path/initrd.img", "cmdline": "console=ttyS0"},
    "console": {"serial": true},
    "launchSecurity": {"type": "tdx", "tdx": {"attributes": "0x10000000", "mrConfigId": "",
                                              "mrOwner": ""}},
    "migration": {"maxDowntimeMs": 300, "bandwidthMiBps": 0, "autoConverge": true,
                  "postCopy": false, "multifdChannels": 0, "completionTimeoutPerGiBSeconds": 150}
  })");
}

std::vector<FieldError> errs(const json &spec) {
  return validate_vm_spec(spec);
}

TEST(VmSpecValidation, ShapeDocumentExampleIsValid) {
  EXPECT_EQ(format_errors(errs(base())), "");
}

TEST(VmSpecValidation, MinimalIsValid) {
  EXPECT_TRUE(errs(json::parse(R"({"apiVersion":"hal.dev/v1","name":"a","cpu":{"vcpus":1},
                                   "memory":{"size":"1073741824"}})"))
                  .empty());
}

TEST(VmSpecValidation, RequiredFields) {
  EXPECT_THAT(errs(json::object()), ElementsAre(FieldError{"spec.apiVersion", "is required"},
                                                FieldError{"spec.name", "is required"},
                                                FieldError{"spec.cpu", "is required"},
                                                FieldError{"spec.memory", "is required"}));
}

TEST(VmSpecValidation, UnknownFieldRejectedByName) {
  json s = base();
  s["numa"]["nodes"][1]["cpus"] = json::array({2});
  EXPECT_THAT(errs(s), ElementsAre(FieldError{"spec.numa.nodes[1]", "unknown field \"cpus\""}));
  s = base();
  s["extra"] = 1;
  EXPECT_THAT(errs(s), ElementsAre(FieldError{"spec", "unknown field \"extra\""}));
}

TEST(VmSpecValidation, SchemaErrors) {
  json s = base();
  s["apiVersion"] = "v2";
  s["name"] = "Demo_1";
  s["cpu"]["vcpus"] = 0;
  s["memory"]["hugepages"] = "4Ki";
  s["nics"][0]["mac"] = "52:54:00";
  EXPECT_THAT(
      errs(s),
      ElementsAre(FieldError{"spec.apiVersion", "must be \"hal.dev/v1\""},
                  FieldError{"spec.cpu.vcpus", "must be >= 1"},
                  FieldError{"spec.memory.hugepages",
                             "must be one of \"none\", \"2Mi\", \"1Gi\", got \"4Ki\""},
                  FieldError{"spec.name",
                             "must be a DNS-1123 label: lower-case letters, digits and '-', "
                             "starting and ending with a letter or digit"},
                  FieldError{"spec.nics[0].mac", "must be a MAC address like 52:54:00:12:34:56"}));
}

TEST(VmSpecValidation, NameTooLong) {
  json s = base();
  s["name"] = std::string(64, 'a');
  EXPECT_THAT(errs(s), ElementsAre(FieldError{"spec.name", "must be at most 63 characters"}));
}

TEST(VmSpecValidation, BadQuantitySyntax) {
  json s = base();
  s["memory"]["size"] = "1GB";
  EXPECT_THAT(errs(s),
              ElementsAre(FieldError{"spec.memory.size",
                                     "must be a quantity like 512Mi, 1Gi, 2G or a byte count"}));
}

TEST(VmSpecValidation, QuantityOverflow) {
  json s = base();
  s.erase("numa");
  s.erase("hostDevices");
  s["memory"]["size"] = "16Ei";
  EXPECT_THAT(errs(s),
              ElementsAre(FieldError{"spec.memory.size",
                                     "quantity out of range or not a whole number of bytes"}));
}

TEST(VmSpecValidation, ZeroMemory) {
  json s = base();
  s.erase("numa");
  s.erase("hostDevices");
  s["memory"]["size"] = "0";
  EXPECT_THAT(errs(s), ElementsAre(FieldError{"spec.memory.size", "must be a positive quantity"}));
}

TEST(VmSpecValidation, TopologyProduct) {
  json s = base();
  s["cpu"]["topology"]["threads"] = 2;
  EXPECT_THAT(errs(s), ElementsAre(FieldError{
                           "spec.cpu.topology",
                           "sockets*cores*threads = 2*2*2 = 8 must equal cpu.vcpus (4)"}));
}

TEST(VmSpecValidation, NumaDuplicateId) {
  json s = base();
  s["numa"]["nodes"][1]["id"] = 0;
  EXPECT_THAT(
      errs(s),
      ElementsAre(
          FieldError{"spec.numa.nodes[1].id", "duplicate node id 0 (also nodes[0])"},
          FieldError{"spec.hostDevices[1].guestNumaNode", "guest NUMA node 1 does not exist"}));
}

TEST(VmSpecValidation, NumaIdOutOfRange) {
  json s = base();
  s["numa"]["nodes"][1]["id"] = 2;
  EXPECT_THAT(errs(s),
              ElementsAre(FieldError{"spec.numa.nodes[1].id",
                                     "must be less than the number of nodes (2); ids are 0..1"},
                          FieldError{"spec.hostDevices[1].guestNumaNode",
                                     "guest NUMA node 1 does not exist"}));
}

TEST(VmSpecValidation, NumaMissingVcpu) {
  json s = base();
  s["numa"]["nodes"][1]["vcpus"] = {2};
  EXPECT_THAT(errs(s), ElementsAre(FieldError{"spec.numa.nodes", "vCPU 3 is in no node"}));
}

TEST(VmSpecValidation, NumaDuplicateVcpu) {
  json s = base();
  s["numa"]["nodes"][1]["vcpus"] = {1, 2, 3};
  EXPECT_THAT(errs(s), ElementsAre(FieldError{"spec.numa.nodes[1].vcpus[0]",
                                              "vCPU 1 is already in nodes[0]"}));
}

TEST(VmSpecValidation, NumaVcpuOutOfRange) {
  json s = base();
  s["numa"]["nodes"][1]["vcpus"] = {2, 3, 4};
  EXPECT_THAT(errs(s), ElementsAre(FieldError{"spec.numa.nodes[1].vcpus[2]",
                                              "vCPU 4 does not exist (cpu.vcpus is 4)"}));
}

TEST(VmSpecValidation, NumaNodeMemoryPositive) {
  json s = base();
  s["numa"]["nodes"][1]["memory"] = "0Mi";
  EXPECT_THAT(errs(s),
              ElementsAre(FieldError{"spec.numa.nodes[1].memory", "must be a positive quantity"}));
}

TEST(VmSpecValidation, NumaMemorySum) {
  json s = base();
  s["numa"]["nodes"][1]["memory"] = "256Mi";
  EXPECT_THAT(errs(s),
              ElementsAre(FieldError{"spec.numa.nodes",
                                     "node memory adds up to 768Mi but memory.size is 1Gi"}));
}

TEST(VmSpecValidation, PinningVcpuOutOfRange) {
  json s = base();
  s["cpu"]["pinning"][1]["vcpu"] = 4;
  EXPECT_THAT(errs(s), ElementsAre(FieldError{"spec.cpu.pinning[1].vcpu",
                                              "vCPU 4 does not exist (cpu.vcpus is 4)"}));
}

TEST(VmSpecValidation, PinningDuplicate) {
  json s = base();
  s["cpu"]["pinning"][1]["vcpu"] = 0;
  EXPECT_THAT(errs(s), ElementsAre(FieldError{"spec.cpu.pinning[1].vcpu",
                                              "vCPU 0 is already pinned by pinning[0]"}));
}

TEST(VmSpecValidation, PinningDuplicateHostCpu) {
  json s = base();
  s["cpu"]["pinning"][0]["hostCpus"] = {0, 0};
  EXPECT_THAT(errs(s), ElementsAre(FieldError{"spec.cpu.pinning[0].hostCpus[1]",
                                              "duplicate value 0 (same as [0])"}));
}

TEST(VmSpecValidation, HostDeviceGuestNumaNodeMustExist) {
  json s = base();
  s["hostDevices"][0]["guestNumaNode"] = 2;
  EXPECT_THAT(errs(s), ElementsAre(FieldError{"spec.hostDevices[0].guestNumaNode",
                                              "guest NUMA node 2 does not exist"}));
}

TEST(VmSpecValidation, HostDeviceGuestNumaNodeWithoutNuma) {
  json s = base();
  s.erase("numa");
  EXPECT_THAT(errs(s), ElementsAre(FieldError{
                           "spec.hostDevices[1].guestNumaNode",
                           "guest NUMA node 1 does not exist (no numa section: only node 0)"}));
}

TEST(VmSpecValidation, HostDeviceTypeFields) {
  json s = base();
  s["hostDevices"][0].erase("pciAddress");
  s["hostDevices"][1].erase("model");
  EXPECT_THAT(
      errs(s),
      ElementsAre(FieldError{"spec.hostDevices[0].pciAddress", "is required for type pci"},
                  FieldError{"spec.hostDevices[1].model", "is required for type emulated"}));
}

TEST(VmSpecValidation, DuplicateDeviceNames) {
  json s = base();
  s["nics"][0]["name"] = "root";
  EXPECT_THAT(errs(s),
              ElementsAre(FieldError{"spec.nics[0].name",
                                     "duplicate device name \"root\" (also spec.disks[0].name)"}));
}

TEST(VmSpecValidation, KernelXorFirmware) {
  json s = base();
  s["boot"]["firmware"] = {{"type", "bios"}};
  EXPECT_THAT(errs(s),
              ElementsAre(FieldError{"spec.boot", "kernel and firmware are mutually exclusive"}));
  s["boot"] = json::object();
  EXPECT_THAT(errs(s), ElementsAre(FieldError{"spec.boot", "needs either kernel or firmware"}));
}

TEST(VmSpecValidation, InitrdAndCmdlineNeedKernel) {
  json s = base();
  s["boot"].erase("kernel");
  s["boot"]["firmware"] = {{"type", "uefi"}};
  EXPECT_THAT(errs(s), ElementsAre(FieldError{"spec.boot.initrd", "requires boot.kernel"},
                                   FieldError{"spec.boot.cmdline", "requires boot.kernel"}));
}

TEST(VmSpecValidation, TdxWithPostCopyRejected) {
  json s = base();
  s["migration"]["postCopy"] = true;
  EXPECT_THAT(errs(s),
              ElementsAre(FieldError{"spec.migration.postCopy",
                                     "post-copy migration is not supported for TDX guests"}));
  s["launchSecurity"] = {{"type", "none"}};
  EXPECT_TRUE(errs(s).empty());
}

TEST(VmSpecValidation, TdxBlockNeedsTdxType) {
  json s = base();
  s["launchSecurity"]["type"] = "none";
  EXPECT_THAT(errs(s), ElementsAre(FieldError{"spec.launchSecurity.tdx",
                                              "is only allowed when launchSecurity.type is tdx"}));
}

TEST(VmSpecValidation, HugepagesMustDivideMemory) {
  json s = base();
  s["memory"]["hugepages"] = "1Gi";
  s["memory"]["size"] = "1536Mi";
  s["numa"]["nodes"][0]["memory"] = "1Gi";
  EXPECT_THAT(
      errs(s),
      ElementsAre(
          FieldError{"spec.memory.size", "must be a multiple of the hugepage size 1Gi"},
          FieldError{"spec.numa.nodes[1].memory", "must be a multiple of the hugepage size 1Gi"}));
}

TEST(VmSpecValidationText, ParseErrorNamesPosition) {
  const auto errors = validate_vm_spec_text(R"({"apiVersion": "hal.dev/v1",)");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].path, "spec");
  EXPECT_THAT(errors[0].message, ::testing::StartsWith("invalid JSON at byte 29: "));
}

TEST(VmSpecValidationText, DeepNestingRejected) {
  const std::string deep = std::string(100, '[') + std::string(100, ']');
  EXPECT_THAT(validate_vm_spec_text(deep),
              ElementsAre(FieldError{"spec", "invalid JSON: JSON nested deeper than 64"}));
}

TEST(VmSpecValidationText, NumberOverflowIsAnErrorNotACrash) {  // fuzzer finding
  EXPECT_THAT(validate_vm_spec_text("1e777777"),
              ElementsAre(FieldError{"spec", "invalid JSON: number overflow parsing '1e777777'"}));
  EXPECT_EQ(validate_vm_spec_text(R"({"cpu":{"vcpus":1e400}})").size(), 1u);
}

TEST(VmSpecValidationText, ValidText) {
  EXPECT_TRUE(validate_vm_spec_text(base().dump()).empty());
}

TEST(FormatErrors, OneLinePerError) {
  EXPECT_EQ(format_errors({{"spec.a", "x"}, {"spec.b", "y"}}), "spec.a: x\nspec.b: y");
  EXPECT_EQ(format_errors({}), "");
}

}  // namespace
}  // namespace hal
