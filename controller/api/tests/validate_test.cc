// validate_test.cc - validate_object: every rejection path with its field-named message, and
// the kinds, metadata and cross references.
#include <gtest/gtest.h>

#include "controller/api/tests/test_util.h"

namespace hal::controller {
namespace {

using nlohmann::json;
using testing::dump;
using testing::has_error;
using testing::one;
using testing::vm_yaml;

// A valid template spec body (6-space indented) with `extra_domain` lines added under domain
// (8 spaces) and `extra_spec` under spec (6 spaces).
std::string body(const std::string &extra_domain = "", const std::string &extra_spec = "") {
  return "      domain:\n"
         "        memory:\n"
         "          guest: 256Mi\n" +
         extra_domain + extra_spec;
}

std::vector<FieldError> errors_of(const std::string &yaml) {
  return validate_object(one(yaml));
}

TEST(Validate, MinimalVirtualMachineIsValid) {
  auto errors = errors_of(vm_yaml(body()));
  EXPECT_TRUE(errors.empty()) << dump(errors);
}

struct Case {
  const char *name;
  std::string domain;  // lines under domain (8 spaces)
  std::string spec;    // lines under template spec (6 spaces)
  const char *path;
  const char *text;
};

class Rejection : public ::testing::TestWithParam<Case> {};

TEST_P(Rejection, NamesTheField) {
  const Case &c = GetParam();
  auto errors = errors_of(vm_yaml(body(c.domain, c.spec)));
  EXPECT_TRUE(has_error(errors, c.path, c.text))
      << "expected " << c.path << ": ..." << c.text << "...\ngot:\n"
      << dump(errors);
}

const std::string T = "spec.template.spec.";

INSTANTIATE_TEST_SUITE_P(
    Fields, Rejection,
    ::testing::Values(
        Case{"unknown_domain_field", "        bogus: 1\n", "", "spec.template.spec.domain.bogus",
             "unknown field"},
        Case{"unknown_spec_field", "", "      whatever: {}\n", "spec.template.spec.whatever",
             "unknown field"},
        Case{"isolate_emulator_thread", "        cpu:\n          isolateEmulatorThread: true\n", "",
             "spec.template.spec.domain.cpu.isolateEmulatorThread", "emulator thread"},
        Case{"cpu_features", "        cpu:\n          features: []\n", "",
             "spec.template.spec.domain.cpu.features", "feature flags"},
        Case{"cpu_cores_zero", "        cpu:\n          cores: 0\n", "",
             "spec.template.spec.domain.cpu.cores", "between 1 and 4096"},
        Case{"cpu_cores_string", "        cpu:\n          cores: two\n", "",
             "spec.template.spec.domain.cpu.cores", "must be an integer"},
        Case{"cpu_model_bad", "        cpu:\n          model: \"bad model\"\n", "",
             "spec.template.spec.domain.cpu.model", "host-passthrough"},
        Case{"numa_without_dedicated_or_hugepages",
             "        cpu:\n          numa:\n            guestMappingPassthrough: {}\n", "",
             "spec.template.spec.domain.cpu.numa.guestMappingPassthrough",
             "missing spec.template.spec.domain.cpu.dedicatedCpuPlacement: true and "
             "spec.template.spec.domain.memory.hugepages.pageSize"},
        Case{"numa_without_hugepages",
             "        cpu:\n          dedicatedCpuPlacement: true\n          numa:\n"
             "            guestMappingPassthrough: {}\n",
             "", "spec.template.spec.domain.cpu.numa.guestMappingPassthrough",
             "missing spec.template.spec.domain.memory.hugepages.pageSize"},
        // Found by the fuzzer: a non-boolean dedicatedCpuPlacement beside NUMA passthrough
        // threw from the validator instead of being named.
        Case{"numa_with_dedicated_not_a_boolean",
             "        cpu:\n          dedicatedCpuPlacement: \"true\"\n          numa:\n"
             "            guestMappingPassthrough: {}\n",
             "", "spec.template.spec.domain.cpu.dedicatedCpuPlacement",
             "must be true or false, not string"}),
    [](const ::testing::TestParamInfo<Case> &info) { return std::string(info.param.name); });

// Cases whose domain replaces memory entirely.
std::string domain_only(const std::string &domain_lines, const std::string &spec = "") {
  return vm_yaml("      domain:\n" + domain_lines + spec);
}

TEST(Validate, MemoryRules) {
  auto e =
      errors_of(domain_only("        memory:\n          guest: 1Gi\n          maxGuest: 2Gi\n"));
  EXPECT_TRUE(has_error(e, T + "domain.memory.maxGuest", "memory hotplug")) << dump(e);
  e = errors_of(domain_only("        devices: {}\n"));
  EXPECT_TRUE(has_error(e, T + "domain.memory.guest", "no guest memory")) << dump(e);
  e = errors_of(domain_only("        memory:\n          guest: lots\n"));
  EXPECT_TRUE(has_error(e, T + "domain.memory.guest", "not a byte quantity")) << dump(e);
  e = errors_of(domain_only(
      "        memory:\n          guest: 3Mi\n          hugepages:\n            pageSize: 2Mi\n"));
  EXPECT_TRUE(has_error(e, T + "domain.memory.guest", "multiple of the hugepage size 2Mi"))
      << dump(e);
  e = errors_of(domain_only(
      "        memory:\n          guest: 4Mi\n          hugepages:\n            pageSize: 4Ki\n"));
  EXPECT_TRUE(has_error(e, T + "domain.memory.hugepages.pageSize", "2Mi or 1Gi")) << dump(e);
  e = errors_of(domain_only("        memory:\n          guest: 512Ki\n"));
  EXPECT_TRUE(has_error(e, T + "domain.memory.guest", "at least 1Mi")) << dump(e);
  e =
      errors_of(domain_only("        memory:\n          guest: 2Gi\n        resources:\n"
                            "          limits:\n            memory: 1Gi\n"));
  EXPECT_TRUE(has_error(e, T + "domain.memory.guest", "must not exceed resources.limits.memory"))
      << dump(e);
  e =
      errors_of(domain_only("        resources:\n          requests:\n            memory: 2Gi\n"
                            "            cpu: 4\n          limits:\n            memory: 1Gi\n"
                            "            cpu: 500m\n"));
  EXPECT_TRUE(has_error(e, T + "domain.resources.requests.memory", "must not exceed")) << dump(e);
  EXPECT_TRUE(has_error(e, T + "domain.resources.requests.cpu", "must not exceed")) << dump(e);
  e =
      errors_of(domain_only("        resources:\n          requests:\n            memory: 1Gi\n"
                            "            nvidia.com/gpu: 1\n          overcommitGuestOverhead: "
                            "true\n"));
  EXPECT_TRUE(has_error(e, T + "domain.resources.requests.nvidia.com/gpu", "cpu and memory"))
      << dump(e);
  EXPECT_TRUE(has_error(e, T + "domain.resources.overcommitGuestOverhead", "overhead")) << dump(e);
  e =
      errors_of(domain_only("        resources:\n          requests:\n            memory: 1Gi\n"
                            "            cpu: lots\n"));
  EXPECT_TRUE(has_error(e, T + "domain.resources.requests.cpu", "CPU quantity")) << dump(e);
  // Only requests.memory is fine (the cirros seed's shape).
  e = errors_of(domain_only("        resources:\n          requests:\n            memory: 64M\n"));
  EXPECT_TRUE(e.empty()) << dump(e);
}

TEST(Validate, DedicatedCpuRequestsMustMatchVcpus) {
  auto e = errors_of(domain_only(
      "        cpu:\n          cores: 2\n          dedicatedCpuPlacement: true\n"
      "        resources:\n          requests:\n            memory: 1Gi\n            cpu: 1\n"));
  EXPECT_TRUE(has_error(e, T + "domain.resources.requests.cpu", "must equal the vCPU count (2)"))
      << dump(e);
}

TEST(Validate, NumaPassthroughWithDedicatedAndHugepagesIsValid) {
  auto e = errors_of(domain_only(
      "        cpu:\n          cores: 4\n          dedicatedCpuPlacement: true\n"
      "          numa:\n            guestMappingPassthrough: {}\n"
      "        memory:\n          guest: 1Gi\n          hugepages:\n            pageSize: 2Mi\n"));
  EXPECT_TRUE(e.empty()) << dump(e);
}

TEST(Validate, Firmware) {
  auto e =
      errors_of(vm_yaml(body("        firmware:\n          bootloader:\n            efi: {}\n")));
  EXPECT_TRUE(has_error(e, T + "domain.firmware.bootloader.efi.secureBoot",
                        "KubeVirt defaults secureBoot to true"))
      << dump(e);
  e =
      errors_of(vm_yaml(body("        firmware:\n          bootloader:\n            efi:\n"
                             "              secureBoot: true\n              persistent: true\n")));
  EXPECT_TRUE(has_error(e, T + "domain.firmware.bootloader.efi.secureBoot", "not supported"))
      << dump(e);
  EXPECT_TRUE(has_error(e, T + "domain.firmware.bootloader.efi.persistent", "NVRAM")) << dump(e);
  e =
      errors_of(vm_yaml(body("        firmware:\n          bootloader:\n            efi:\n"
                             "              secureBoot: false\n")));
  EXPECT_TRUE(e.empty()) << dump(e);
  e =
      errors_of(vm_yaml(body("        firmware:\n          uuid: x\n          bootloader:\n"
                             "            bios: {}\n            efi:\n"
                             "              secureBoot: false\n")));
  EXPECT_TRUE(has_error(e, T + "domain.firmware.uuid", "UUID")) << dump(e);
  EXPECT_TRUE(has_error(e, T + "domain.firmware.bootloader", "mutually exclusive")) << dump(e);
  e =
      errors_of(vm_yaml(body("        firmware:\n          kernelBoot:\n"
                             "            kernelArgs: console=ttyS0\n")));
  EXPECT_TRUE(has_error(e, T + "domain.firmware.kernelBoot.container", "is required")) << dump(e);
  e =
      errors_of(vm_yaml(body("        firmware:\n          kernelBoot:\n            container:\n"
                             "              image: x\n              initrdPath: rel/initrd\n"
                             "              imagePullPolicy: Always\n")));
  EXPECT_TRUE(has_error(e, T + "domain.firmware.kernelBoot.container.kernelPath", "is required"))
      << dump(e);
  EXPECT_TRUE(has_error(e, T + "domain.firmware.kernelBoot.container.initrdPath", "absolute"))
      << dump(e);
  EXPECT_TRUE(
      has_error(e, T + "domain.firmware.kernelBoot.container.imagePullPolicy", "nothing is pulled"))
      << dump(e);
  e =
      errors_of(vm_yaml(body("        firmware:\n          kernelBoot:\n            container:\n"
                             "              image: x\n              kernelPath: /k\n"
                             "          bootloader:\n            bios: {}\n")));
  EXPECT_TRUE(has_error(e, T + "domain.firmware", "mutually exclusive")) << dump(e);
}

TEST(Validate, LaunchSecurity) {
  auto e = errors_of(vm_yaml(body("        launchSecurity:\n          sev: {}\n")));
  EXPECT_TRUE(has_error(e, T + "domain.launchSecurity.sev", "only Intel TDX")) << dump(e);
  e = errors_of(
      vm_yaml(body("        launchSecurity:\n          tdx:\n            attributes: 1\n")));
  EXPECT_TRUE(has_error(e, T + "domain.launchSecurity.tdx.attributes", "unknown field")) << dump(e);
  e = errors_of(vm_yaml(body("        launchSecurity:\n          tdx: {}\n",
                             "      evictionStrategy: LiveMigrate\n")));
  EXPECT_TRUE(has_error(e, T + "evictionStrategy", "TDX guests cannot be live-migrated"))
      << dump(e);
  e = errors_of(vm_yaml(body("        launchSecurity:\n          tdx: {}\n",
                             "      evictionStrategy: LiveMigrateIfPossible\n")));
  EXPECT_TRUE(e.empty()) << dump(e);
}

TEST(Validate, Disks) {
  const std::string volumes =
      "      volumes:\n      - name: a\n        hostDisk:\n          path: /img/a.raw\n"
      "          type: Disk\n";
  auto e =
      errors_of(vm_yaml(body("        devices:\n          disks:\n          - name: a\n"
                             "            cdrom: {}\n          - name: b\n"
                             "            lun: {}\n          - name: c\n"
                             "            disk:\n              bus: usb\n"
                             "          - name: a\n            bootOrder: 1\n"
                             "            disk:\n              bus: ide\n",
                             volumes)));
  EXPECT_TRUE(has_error(e, T + "domain.devices.disks[0].cdrom", "CD-ROM")) << dump(e);
  EXPECT_TRUE(has_error(e, T + "domain.devices.disks[1].lun", "LUN")) << dump(e);
  EXPECT_TRUE(has_error(e, T + "domain.devices.disks[2].disk.bus", "usb disks")) << dump(e);
  EXPECT_TRUE(has_error(e, T + "domain.devices.disks[3].bootOrder", "boot order")) << dump(e);
  // disks[3] has a rejected field, so its other fields are not checked; disks[2] has no volume.
  EXPECT_TRUE(has_error(e, T + "domain.devices.disks[2].name", "no volume named \"c\"")) << dump(e);
  e =
      errors_of(vm_yaml(body("        devices:\n          disks:\n          - name: a\n"
                             "          - name: a\n            disk:\n              bus: ide\n",
                             volumes)));
  EXPECT_TRUE(has_error(e, T + "domain.devices.disks[1].name", "duplicate disk name")) << dump(e);
  EXPECT_TRUE(has_error(e, T + "domain.devices.disks[1].disk.bus", "virtio, sata or scsi"))
      << dump(e);
}

TEST(Validate, InterfacesAndNetworks) {
  auto e = errors_of(vm_yaml(
      body("        devices:\n          interfaces:\n          - name: a\n            bridge: {}\n"
           "          - name: b\n            sriov: {}\n          - name: c\n"
           "            masquerade: {}\n            model: ne2k_pci\n            macAddress: zz\n"
           "          - name: d\n            masquerade: {}\n            ports:\n            - "
           "port: 80\n",
           "      networks:\n      - name: a\n        pod: {}\n      - name: b\n        multus:\n"
           "          networkName: x\n      - name: e\n        pod: {}\n")));
  EXPECT_TRUE(has_error(e, T + "domain.devices.interfaces[0].bridge", "use masquerade")) << dump(e);
  EXPECT_TRUE(has_error(e, T + "domain.devices.interfaces[1].sriov", "SR-IOV")) << dump(e);
  EXPECT_TRUE(has_error(e, T + "domain.devices.interfaces[2].model", "virtio, e1000")) << dump(e);
  EXPECT_TRUE(has_error(e, T + "domain.devices.interfaces[2].macAddress", "MAC address"))
      << dump(e);
  EXPECT_TRUE(has_error(e, T + "domain.devices.interfaces[3].ports", "port forwarding")) << dump(e);
  EXPECT_TRUE(has_error(e, T + "networks[1].multus", "Multus")) << dump(e);
  EXPECT_TRUE(has_error(e, T + "networks[2].pod", "only one pod network")) << dump(e);
  EXPECT_TRUE(has_error(e, T + "domain.devices.interfaces[2].name", "no network named \"c\""))
      << dump(e);
  EXPECT_TRUE(has_error(e, T + "networks[2].name", "network \"e\" has no interface")) << dump(e);
}

TEST(Validate, Volumes) {
  auto e = errors_of(vm_yaml(
      body("",
           "      volumes:\n      - name: dv\n        dataVolume:\n          name: x\n"
           "      - name: pvc\n        persistentVolumeClaim:\n          claimName: x\n"
           "      - name: ci\n        cloudInitNoCloud:\n          userData: x\n"
           "      - name: h\n        hostDisk:\n          path: rel\n          type: Maybe\n"
           "      - name: h2\n        hostDisk:\n          path: /x\n          type: DiskOrCreate\n"
           "      - name: c\n        containerDisk:\n          imagePullPolicy: Always\n"
           "      - name: both\n        containerDisk:\n          image: a\n        hostDisk:\n"
           "          path: /x\n          type: Disk\n"
           "      - name: none\n"
           "      - name: Bad_Name\n        containerDisk:\n          image: a\n")));
  EXPECT_TRUE(has_error(e, T + "volumes[0].dataVolume", "CDI")) << dump(e);
  EXPECT_TRUE(has_error(e, T + "volumes[1].persistentVolumeClaim", "no Kubernetes storage"))
      << dump(e);
  EXPECT_TRUE(has_error(e, T + "volumes[2].cloudInitNoCloud", "does not generate the cidata"))
      << dump(e);
  EXPECT_TRUE(has_error(e, T + "volumes[3].hostDisk.path", "absolute path")) << dump(e);
  EXPECT_TRUE(has_error(e, T + "volumes[3].hostDisk.type", "Disk or DiskOrCreate")) << dump(e);
  EXPECT_TRUE(
      has_error(e, T + "volumes[4].hostDisk.capacity", "required when type is DiskOrCreate"))
      << dump(e);
  EXPECT_TRUE(has_error(e, T + "volumes[5].containerDisk.imagePullPolicy", "nothing is pulled"))
      << dump(e);
  EXPECT_TRUE(has_error(e, T + "volumes[6]", "mutually exclusive")) << dump(e);
  EXPECT_TRUE(has_error(e, T + "volumes[7]", "needs a volume source")) << dump(e);
  EXPECT_TRUE(has_error(e, T + "volumes[8].name", "DNS-1123")) << dump(e);
}

TEST(Validate, SchedulingFields) {
  auto e = errors_of(vm_yaml(body("",
                                  "      evictionStrategy: Sometimes\n"
                                  "      affinity: {}\n      tolerations: []\n"
                                  "      nodeSelector:\n        hal.dev/pool: qemu\n"
                                  "        bad key!: x\n        num: 1\n"
                                  "      terminationGracePeriodSeconds: -1\n")));
  EXPECT_TRUE(has_error(e, T + "evictionStrategy",
                        "None, LiveMigrate, LiveMigrateIfPossible or "
                        "External"))
      << dump(e);
  EXPECT_TRUE(has_error(e, T + "affinity", "use nodeSelector")) << dump(e);
  EXPECT_TRUE(has_error(e, T + "tolerations", "taints")) << dump(e);
  EXPECT_TRUE(has_error(e, T + "nodeSelector[bad key!]", "invalid key")) << dump(e);
  EXPECT_TRUE(has_error(e, T + "nodeSelector[num]", "must be a string")) << dump(e);
  EXPECT_TRUE(has_error(e, T + "terminationGracePeriodSeconds", "between 0 and 86400")) << dump(e);
  for (const char *s : {"None", "LiveMigrate", "LiveMigrateIfPossible", "External"}) {
    e = errors_of(vm_yaml(body("", std::string("      evictionStrategy: ") + s + "\n")));
    EXPECT_TRUE(e.empty()) << s << "\n" << dump(e);
  }
}

TEST(Validate, DevicesRejectedByName) {
  auto e =
      errors_of(vm_yaml(body("        devices:\n          gpus: []\n          tpm: {}\n"
                             "          autoattachGraphicsDevice: true\n")));
  EXPECT_TRUE(has_error(e, T + "domain.devices.gpus", "passthrough")) << dump(e);
  EXPECT_TRUE(has_error(e, T + "domain.devices.tpm", "TPM")) << dump(e);
  EXPECT_TRUE(has_error(e, T + "domain.devices.autoattachGraphicsDevice", "no graphics"))
      << dump(e);
}

TEST(Validate, MachineTypeIsANameForTheBackend) {
  EXPECT_TRUE(errors_of(vm_yaml(body("        machine:\n          type: pc-q35-7.2\n"))).empty());
  auto e = errors_of(vm_yaml(body("        machine:\n          type: 'q35 --evil'\n")));
  EXPECT_TRUE(has_error(e, T + "domain.machine.type", "machine type name")) << dump(e);
  e = errors_of(vm_yaml(body("        machine:\n          type: q35\n          arch: x86\n")));
  EXPECT_TRUE(has_error(e, T + "domain.machine.arch", "unknown field")) << dump(e);
}

TEST(Validate, RunStrategyAndRunning) {
  auto e = validate_object(
      one("apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata:\n  name: t\nspec:\n"
          "  running: true\n  runStrategy: Always\n  template:\n    spec:\n" +
          body()));
  EXPECT_TRUE(has_error(e, "spec.running",
                        "spec.running and spec.runStrategy are mutually "
                        "exclusive"))
      << dump(e);
  e =
      validate_object(one("apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata:\n  name: t\n"
                          "spec:\n  runStrategy: Sometimes\n  dataVolumeTemplates: []\n"
                          "  template:\n    spec:\n" +
                          body()));
  EXPECT_TRUE(has_error(e, "spec.runStrategy", "Always, RerunOnFailure, Manual, Halted or Once"))
      << dump(e);
  EXPECT_TRUE(has_error(e, "spec.dataVolumeTemplates", "CDI")) << dump(e);
  for (const char *s : {"Always", "RerunOnFailure", "Manual", "Halted", "Once"}) {
    e = validate_object(one(std::string("apiVersion: kubevirt.io/v1\nkind: VirtualMachine\n"
                                        "metadata:\n  name: t\nspec:\n  runStrategy: ") +
                            s + "\n  template:\n    spec:\n" + body()));
    EXPECT_TRUE(e.empty()) << s << "\n" << dump(e);
  }
  e =
      validate_object(one("apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata:\n  name: t\n"
                          "spec:\n  running: false\n"));
  EXPECT_TRUE(has_error(e, "spec.template", "is required")) << dump(e);
}

TEST(Validate, Metadata) {
  auto e =
      validate_object(one("apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata:\n"
                          "  name: Not_Valid\n  namespace: Bad.NS\n  generateName: x-\n"
                          "  labels:\n    app: \"bad value!\"\nspec:\n  template:\n"
                          "    spec:\n" +
                          body()));
  EXPECT_TRUE(has_error(e, "metadata.name", "DNS-1123 label")) << dump(e);
  EXPECT_TRUE(has_error(e, "metadata.namespace", "DNS-1123 label")) << dump(e);
  EXPECT_TRUE(has_error(e, "metadata.generateName", "set metadata.name")) << dump(e);
  EXPECT_TRUE(has_error(e, "metadata.labels[app]", "invalid label value")) << dump(e);
  e =
      validate_object(one("apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata:\n"
                          "  namespace: a-very-long-namespace-name-for-testing\n"
                          "  name: and-a-rather-long-vm-name-too\nspec:\n  template:\n"
                          "    spec:\n" +
                          body()));
  EXPECT_TRUE(has_error(e, "metadata.name", "HAL VM id")) << dump(e);
  // 19 + 1 + 35 = 55 characters, but the id doubles the namespace's 9 dashes: 64.
  const std::string dashed_ns = "a-b-c-d-e-f-g-h-i-j", long_name(35, 'v');
  e = validate_object(
      one("apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata:\n"
          "  namespace: " +
          dashed_ns + "\n  name: " + long_name + "\nspec:\n  template:\n    spec:\n" + body()));
  EXPECT_TRUE(has_error(e, "metadata.name", "it would be 64")) << dump(e);
  e =
      validate_object(one("apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata:\n"
                          "  namespace: " +
                          dashed_ns + "\n  name: " + long_name.substr(1) +
                          "\nspec:\n  template:\n    spec:\n" + body()));
  EXPECT_FALSE(has_error(e, "metadata.name", "HAL VM id")) << dump(e);
  e =
      validate_object(one("apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nspec:\n"
                          "  template:\n    spec:\n" +
                          body()));
  EXPECT_TRUE(has_error(e, "metadata.name", "is required")) << dump(e);
  // Server-populated metadata and status are accepted (get -o yaml output re-applies).
  e =
      validate_object(one("apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata:\n"
                          "  name: t\n  uid: abc\n  resourceVersion: \"7\"\n  generation: 2\n"
                          "  creationTimestamp: \"2026-01-01T00:00:00Z\"\nspec:\n  template:\n"
                          "    spec:\n" +
                          body() + "status:\n  printableStatus: Running\n"));
  EXPECT_TRUE(e.empty()) << dump(e);
}

TEST(Validate, KindsAndApiVersions) {
  auto e =
      validate_object(one("kind: VirtualMachine\nmetadata:\n  name: t\nspec:\n  template:\n"
                          "    spec:\n" +
                          body()));
  EXPECT_TRUE(has_error(e, "apiVersion", "is required: VirtualMachine is kubevirt.io/v1"))
      << dump(e);
  e =
      validate_object(one("apiVersion: kubevirt.io/v1alpha3\nkind: VirtualMachine\nmetadata:\n"
                          "  name: t\nspec:\n  template:\n    spec:\n" +
                          body()));
  EXPECT_TRUE(has_error(e, "apiVersion", "served as kubevirt.io/v1, not kubevirt.io/v1alpha3"))
      << dump(e);
  e = validate_object(one("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n"));
  EXPECT_TRUE(has_error(e, "kind", "unknown kind \"Pod\"")) << dump(e);
  e = validate_object(one("apiVersion: hal.dev/v1\nkind: Node\nmetadata:\n  name: n1\n"));
  EXPECT_TRUE(has_error(e, "kind", "read-only")) << dump(e);
  e = validate_object(one("metadata:\n  name: x\n"));
  EXPECT_TRUE(has_error(e, "kind", "is required")) << dump(e);
  e = validate_object(json::array());
  EXPECT_TRUE(has_error(e, "", "must be an object")) << dump(e);
  e =
      validate_object(one("apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata:\n"
                          "  name: t\nextra: 1\n"));
  EXPECT_TRUE(has_error(e, "extra", "unknown field")) << dump(e);
  EXPECT_TRUE(has_error(e, "spec", "is required")) << dump(e);
}

TEST(Validate, VirtualMachineInstance) {
  auto e =
      validate_object(one("apiVersion: kubevirt.io/v1\nkind: VirtualMachineInstance\n"
                          "metadata:\n  name: i\nspec:\n  domain:\n    memory:\n"
                          "      guest: 1Gi\n    cpu:\n      maxSockets: 4\n"));
  EXPECT_TRUE(has_error(e, "spec.domain.cpu.maxSockets", "hotplug")) << dump(e);
  e = validate_object(
      one("apiVersion: kubevirt.io/v1\nkind: VirtualMachineInstance\n"
          "metadata:\n  name: i\nspec:\n  domain:\n    memory:\n      guest: 1Gi\n"));
  EXPECT_TRUE(e.empty()) << dump(e);
  e =
      validate_object(one("apiVersion: kubevirt.io/v1\nkind: VirtualMachineInstance\n"
                          "metadata:\n  name: i\nspec: {}\n"));
  EXPECT_TRUE(has_error(e, "spec.domain", "is required")) << dump(e);
}

TEST(Validate, Migration) {
  auto e =
      validate_object(one("apiVersion: kubevirt.io/v1\nkind: VirtualMachineInstanceMigration\n"
                          "metadata:\n  name: m\nspec: {}\n"));
  EXPECT_TRUE(has_error(e, "spec.vmiName", "is required")) << dump(e);
  e =
      validate_object(one("apiVersion: kubevirt.io/v1\nkind: VirtualMachineInstanceMigration\n"
                          "metadata:\n  name: m\nspec:\n  vmiName: testguest\n"
                          "  addedNodeSelector:\n    kubernetes.io/hostname: node-b\n"));
  EXPECT_TRUE(e.empty()) << dump(e);
  e =
      validate_object(one("apiVersion: kubevirt.io/v1\nkind: VirtualMachineInstanceMigration\n"
                          "metadata:\n  name: m\nspec:\n  vmiName: x\n  priority: high\n"));
  EXPECT_TRUE(has_error(e, "spec.priority", "not supported")) << dump(e);
}

TEST(Validate, NodePool) {
  auto e =
      validate_object(one("apiVersion: hal.dev/v1\nkind: NodePool\nmetadata:\n  name: p\n"
                          "  namespace: default\nspec:\n  backend:\n    config: []\n"));
  EXPECT_TRUE(has_error(e, "metadata.namespace", "cluster-scoped")) << dump(e);
  EXPECT_TRUE(has_error(e, "spec.nodeSelector", "is required")) << dump(e);
  EXPECT_TRUE(has_error(e, "spec.backend.plugin", "is required")) << dump(e);
  EXPECT_TRUE(has_error(e, "spec.backend.config", "must be an object")) << dump(e);
  e =
      validate_object(one("apiVersion: kubevirt.io/v1\nkind: NodePool\nmetadata:\n  name: p\n"
                          "spec:\n  nodeSelector: {}\n  backend:\n    plugin: Bad Name\n"));
  EXPECT_TRUE(has_error(e, "apiVersion", "served as hal.dev/v1")) << dump(e);
  EXPECT_TRUE(has_error(e, "spec.backend.plugin", "must be a plugin name")) << dump(e);
}

TEST(FormatErrors, OneLinePerErrorWithKindAndName) {
  json vm = {{"kind", "VirtualMachine"}, {"metadata", {{"name", "x"}}}};
  EXPECT_EQ(format_errors(vm, {{"spec.a", "bad"}, {"spec.b", "worse"}}),
            "virtualmachine/x: spec.a: bad\nvirtualmachine/x: spec.b: worse");
  EXPECT_EQ(format_errors(json::object(), {{"kind", "is required"}}),
            "object/<unnamed>: kind: is required");
}

TEST(CanonicalKind, ShortAndPluralNames) {
  EXPECT_EQ(canonical_kind("vm"), "VirtualMachine");
  EXPECT_EQ(canonical_kind("VirtualMachines"), "VirtualMachine");
  EXPECT_EQ(canonical_kind("vmi"), "VirtualMachineInstance");
  EXPECT_EQ(canonical_kind("vmim"), "VirtualMachineInstanceMigration");
  EXPECT_EQ(canonical_kind("np"), "NodePool");
  EXPECT_EQ(canonical_kind("nodes"), "Node");
  EXPECT_EQ(canonical_kind("events"), "Event");
  EXPECT_EQ(canonical_kind("pods"), std::nullopt);
}

}  // namespace
}  // namespace hal::controller
