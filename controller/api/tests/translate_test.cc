// translate_test.cc - apply_defaults, to_hal_spec and resource_request.
#include <gtest/gtest.h>

#include <map>

#include "controller/api/tests/test_util.h"
#include "core/plugin/backend.h"
#include "hal/host.hpp"

namespace hal::controller {
namespace {

using nlohmann::json;
using testing::dump;
using testing::one;

json vmi_spec(const std::string &yaml) {
  return parse_manifests(yaml).at(0);
}

TEST(Defaults, VirtualMachine) {
  json vm =
      one("apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata:\n  name: t\nspec:\n"
          "  running: true\n  template:\n    spec:\n      domain:\n        resources:\n"
          "          requests:\n            memory: 1Gi\n            cpu: 1500m\n"
          "      volumes:\n      - name: d\n        hostDisk:\n          path: /x.img\n"
          "          type: Disk\n");
  ASSERT_TRUE(validate_object(vm).empty());
  json d = apply_defaults(vm);
  EXPECT_EQ(d["metadata"]["namespace"], "default");
  EXPECT_EQ(d["spec"]["runStrategy"], "Always");
  EXPECT_FALSE(d["spec"].contains("running"));
  const json &s = d["spec"]["template"]["spec"];
  EXPECT_EQ(s["domain"]["cpu"], json({{"sockets", 2}, {"cores", 1}, {"threads", 1}}));
  EXPECT_EQ(s["domain"]["memory"]["guest"], "1Gi");
  EXPECT_EQ(s["domain"]["devices"]["disks"],
            json::parse(R"([{"name":"d","disk":{"bus":"virtio"}}])"));
  EXPECT_EQ(s["domain"]["devices"]["interfaces"],
            json::parse(R"([{"name":"default","masquerade":{},"model":"virtio"}])"));
  EXPECT_EQ(s["networks"], json::parse(R"([{"name":"default","pod":{}}])"));
  EXPECT_EQ(s["terminationGracePeriodSeconds"], 180);
  EXPECT_TRUE(validate_object(d).empty()) << dump(validate_object(d));
  EXPECT_EQ(apply_defaults(d), d);

  json halted = vm;
  halted["spec"].erase("running");
  EXPECT_EQ(apply_defaults(halted)["spec"]["runStrategy"], "Halted");
}

TEST(Defaults, NoPodInterfaceWhenDisabledAndNodePoolConfig) {
  json spec = default_vmi_spec(vmi_spec(
      "domain:\n  memory:\n    guest: 1Gi\n  devices:\n    autoattachPodInterface: false\n"));
  EXPECT_FALSE(spec["domain"]["devices"].contains("interfaces"));
  EXPECT_FALSE(spec.contains("networks"));
  json pool =
      apply_defaults(one("apiVersion: hal.dev/v1\nkind: NodePool\nmetadata:\n  name: p\n"
                         "spec:\n  nodeSelector: {}\n  backend:\n    plugin: mock\n"));
  EXPECT_EQ(pool["spec"]["backend"]["config"], json::object());
  EXPECT_FALSE(pool["metadata"].contains("namespace"));
}

TEST(Translate, DedicatedCpusAndGuestNumaFromThePlacement) {
  json spec = vmi_spec(
      "domain:\n  cpu:\n    sockets: 2\n    cores: 2\n    dedicatedCpuPlacement: true\n"
      "    model: host-passthrough\n    numa:\n      guestMappingPassthrough: {}\n"
      "  memory:\n    guest: 1Gi\n    hugepages:\n      pageSize: 2Mi\n");
  TranslationContext context{nullptr, "default-numa"};
  json out = to_hal_spec(spec, context, CpuPlacement{{2, 3, 10, 11}, {0, 0, 1, 1}});
  EXPECT_EQ(out["cpu"]["model"], "host");
  EXPECT_EQ(out["cpu"]["pinning"][2], json::parse(R"({"vcpu":2,"hostCpus":[10]})"));
  EXPECT_EQ(out["memory"], json::parse(R"({"size":"1Gi","hugepages":"2Mi"})"));
  EXPECT_EQ(out["numa"]["nodes"],
            json::parse(R"([{"id":0,"vcpus":[0,1],"memory":"512Mi","hostNodes":[0],"policy":"bind"},
                            {"id":1,"vcpus":[2,3],"memory":"512Mi","hostNodes":[1],"policy":"bind"}])"));
  EXPECT_NO_THROW(hal::validate_spec_or_throw(out));
  auto r = resource_request(spec);
  EXPECT_EQ(r.vcpus, 4u);
  EXPECT_TRUE(r.dedicated_cpus);
  EXPECT_TRUE(r.needs_numa);

  try {
    to_hal_spec(spec, {nullptr, "default-numa"});
    FAIL() << "translated dedicated CPUs without a placement";
  } catch (const Error &e) {
    EXPECT_EQ(e.status(), HAL_FAILED_PRECONDITION);
    EXPECT_NE(std::string(e.what()).find("spec.domain.cpu.dedicatedCpuPlacement"),
              std::string::npos);
  }
  try {
    to_hal_spec(spec, {nullptr, "default-numa"}, CpuPlacement{{2, 3, 10, 11}, {}});
    FAIL() << "translated NUMA passthrough without host nodes";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("guestMappingPassthrough"), std::string::npos);
  }
}

TEST(Translate, TdxUefiAndDisks) {
  json spec = vmi_spec(
      "domain:\n  memory:\n    guest: 2Gi\n  launchSecurity:\n    tdx: {}\n"
      "  firmware:\n    bootloader:\n      efi:\n        secureBoot: false\n"
      "  devices:\n    autoattachSerialConsole: false\n    disks:\n    - name: root\n"
      "      disk:\n        bus: sata\n        readonly: true\n"
      "    interfaces:\n    - name: net\n      masquerade: {}\n      model: e1000\n"
      "      macAddress: 02:00:00:00:00:01\n"
      "networks:\n- name: net\n  pod: {}\n"
      "volumes:\n- name: root\n  hostDisk:\n    path: /var/lib/hal/root.img\n    type: Disk\n"
      "    shared: true\n");
  json out = to_hal_spec(spec, {nullptr, "default-tdx"});
  EXPECT_EQ(out["launchSecurity"], json::parse(R"({"type":"tdx"})"));
  EXPECT_EQ(out["boot"], json::parse(R"({"firmware":{"type":"uefi"}})"));
  EXPECT_EQ(out["console"]["serial"], false);
  EXPECT_EQ(out["disks"], json::parse(R"([{"name":"root","path":"/var/lib/hal/root.img",
      "format":"raw","bus":"sata","readOnly":true}])"));
  EXPECT_EQ(out["nics"], json::parse(R"([{"name":"net","type":"user","model":"e1000",
      "mac":"02:00:00:00:00:01"}])"));
  EXPECT_NO_THROW(hal::validate_spec_or_throw(out));
  auto r = resource_request(spec);
  EXPECT_TRUE(r.needs_tdx);
  EXPECT_FALSE(r.live_migratable);
  EXPECT_EQ(r.memory_bytes, 2ull << 30);
}

TEST(Translate, MachineTypeGoesToTheBackendAndIsAbsentByDefault) {
  json out = to_hal_spec(vmi_spec("domain:\n  machine:\n    type: pc-q35-7.1\n  memory:\n"
                                  "    guest: 1Gi\n"),
                         {nullptr, "default-m"});
  EXPECT_EQ(out["machine"], "pc-q35-7.1");
  EXPECT_NO_THROW(hal::validate_spec_or_throw(out));
  out = to_hal_spec(vmi_spec("domain:\n  memory:\n    guest: 1Gi\n"), {nullptr, "default-n"});
  EXPECT_FALSE(out.contains("machine")) << out.dump();
}

TEST(Translate, MigratabilityAndCpuFromRequests) {
  json local = vmi_spec(
      "domain:\n  memory:\n    guest: 1Gi\nvolumes:\n- name: d\n  hostDisk:\n"
      "    path: /d.img\n    type: DiskOrCreate\n    capacity: 1Gi\n");
  EXPECT_FALSE(resource_request(local).live_migratable);  // hostDisk not shared
  json none = vmi_spec("evictionStrategy: None\ndomain:\n  memory:\n    guest: 1Gi\n");
  EXPECT_FALSE(resource_request(none).live_migratable);
  json plain = vmi_spec(
      "domain:\n  resources:\n    requests:\n      memory: 1Gi\n"
      "    limits:\n      cpu: 3\n      memory: 2Gi\n");
  auto r = resource_request(plain);
  EXPECT_TRUE(r.live_migratable);
  EXPECT_EQ(r.vcpus, 3u);
  EXPECT_EQ(r.memory_bytes, 1ull << 30);
  EXPECT_EQ(to_hal_spec(plain, {nullptr, "default-p"})["cpu"]["topology"],
            json::parse(R"({"sockets":3,"cores":1,"threads":1})"));
}

TEST(Translate, Errors) {
  json spec = vmi_spec("domain:\n  memory:\n    guest: 1Gi\n");
  EXPECT_THROW(to_hal_spec(spec, {nullptr, ""}), Error);
  try {
    to_hal_spec(spec, {nullptr, "Not_A_Label"});
    FAIL();
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("spec.name"), std::string::npos) << e.what();
  }
  json kb = vmi_spec(
      "domain:\n  memory:\n    guest: 1Gi\n  firmware:\n    kernelBoot:\n"
      "      container:\n        image: hal/test-guest\n        kernelPath: /k\n");
  try {
    to_hal_spec(kb, {nullptr, "default-kb"});
    FAIL();
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("spec.domain.firmware.kernelBoot.container.image"),
              std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("no image catalogue"), std::string::npos);
  }
  EXPECT_EQ(hal_vm_id("", "x"), "default-x");
  EXPECT_EQ(hal_vm_id("team", "x"), "team-x");
}

// Issue 25: a hostDisk outside the NodePool's declared roots is refused, naming the field.
TEST(HostPathRoots, HostDisksOutsideThePoolsRootsAreNamed) {
  const json pool = json::parse(R"({"spec":{"hostPathRoots":["/var/lib/hal/images","/srv/vm/"]}})");
  const std::vector<std::string> roots = pool_host_path_roots(pool);
  EXPECT_EQ(roots, (std::vector<std::string>{"/var/lib/hal/images", "/srv/vm/"}));
  EXPECT_TRUE(pool_host_path_roots(json::parse(R"({"spec":{}})")).empty());
  const json spec = vmi_spec(
      "domain:\n  memory:\n    guest: 1Gi\nvolumes:\n"
      "- name: ok\n  hostDisk:\n    path: /var/lib/hal/images/a.img\n    type: Disk\n"
      "- name: ok2\n  hostDisk:\n    path: /srv/vm/x/../b.img\n    type: Disk\n"
      "- name: shadow\n  hostDisk:\n    path: /etc/shadow\n    type: Disk\n"
      "- name: climb\n  hostDisk:\n    path: /srv/vm/../../etc/passwd\n    type: Disk\n"
      "- name: prefix\n  hostDisk:\n    path: /srv/vmx/c.img\n    type: Disk\n");
  const auto errors = check_host_path_roots(spec, "spec.template.spec", "qemu", roots);
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_EQ(errors[0].path, "spec.template.spec.volumes[2].hostDisk.path");
  EXPECT_EQ(errors[0].message,
            "'/etc/shadow' is outside the host path roots of NodePool qemu "
            "(/var/lib/hal/images, /srv/vm/)");
  EXPECT_EQ(errors[1].path, "spec.template.spec.volumes[3].hostDisk.path");
  EXPECT_EQ(errors[2].path, "spec.template.spec.volumes[4].hostDisk.path");
}

// Issue 25: "a-b"/"c" and "a"/"b-c" used to share the VM id "a-b-c".
TEST(HalVmId, NamespaceAndNameNeverShareAnId) {
  EXPECT_EQ(hal_vm_id("a-b", "c"), "a--b-c");
  EXPECT_EQ(hal_vm_id("a", "b-c"), "a-b-c");
  EXPECT_EQ(hal_vm_id("a--b", "c"), "a----b-c");
  EXPECT_EQ(hal_vm_id("a", "-b"), "");                  // not a DNS-1123 label
  EXPECT_EQ(hal_vm_id("a", "b/../c"), "");              // nor this
  EXPECT_EQ(hal_vm_id("a", std::string(62, 'x')), "");  // 64 characters
  EXPECT_EQ(hal_vm_id("a", std::string(61, 'x')).size(), 63u);
  // Exhaustive over short labels of {a, -}: every (ns, name) pair gets its own id.
  std::vector<std::string> labels;
  for (int length = 1; length <= 5; ++length) {
    for (int bits = 0; bits < (1 << length); ++bits) {
      std::string label;
      for (int i = 0; i < length; ++i) label += (bits >> i & 1) ? '-' : 'a';
      if (label.front() != '-' && label.back() != '-') labels.push_back(label);
    }
  }
  std::map<std::string, std::pair<std::string, std::string>> seen;
  for (const auto &ns : labels) {
    for (const auto &name : labels) {
      std::string id = hal_vm_id(ns, name);
      ASSERT_FALSE(id.empty()) << ns << "/" << name;
      auto [it, added] = seen.try_emplace(id, ns, name);
      EXPECT_TRUE(added) << ns << "/" << name << " and " << it->second.first << "/"
                         << it->second.second << " share " << id;
    }
  }
}

}  // namespace
}  // namespace hal::controller
