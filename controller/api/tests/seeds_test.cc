// seeds_test.cc - the VirtualMachine YAML of shared/seeds (copied verbatim into testdata/) gets
// its precise field-named outcome, and every manifest in examples/manifests validates and
// translates to a HAL spec the core accepts.
#include <gtest/gtest.h>

#include <filesystem>

#include "controller/api/tests/test_util.h"
#include "core/plugin/backend.h"
#include "hal/host.hpp"

namespace hal::controller {
namespace {

using nlohmann::json;
using testing::dump;
using testing::read_file;

std::vector<json> load(const std::string &path) {
  return parse_manifests(read_file(path));
}

TEST(Seeds, FedoraVmIsRejectedForItsDataVolumeOnly) {
  auto objects = load(HAL_API_TESTDATA_DIR "/seed-fedora-vm.yaml");
  ASSERT_EQ(objects.size(), 1u);
  auto errors = validate_object(objects[0]);
  ASSERT_EQ(errors.size(), 1u) << dump(errors);
  EXPECT_EQ(errors[0].path, "spec.template.spec.volumes[0].dataVolume");
  EXPECT_NE(errors[0].message.find("CDI"), std::string::npos) << errors[0].message;
  EXPECT_EQ(
      format_errors(objects[0], errors)
          .rfind("virtualmachine/fedora-vm: spec.template.spec.volumes[0].dataVolume: DataVolumes",
                 0),
      0u);
}

TEST(Seeds, FedoraVmWithAHostDiskInsteadIsAccepted) {
  json vm = load(HAL_API_TESTDATA_DIR "/seed-fedora-vm.yaml")[0];
  vm["spec"]["template"]["spec"]["volumes"][0] = {
      {"name", "rootdisk"}, {"hostDisk", {{"path", "/var/lib/hal/fedora.img"}, {"type", "Disk"}}}};
  auto errors = validate_object(vm);
  EXPECT_TRUE(errors.empty()) << dump(errors);
  json defaulted = apply_defaults(vm);
  EXPECT_EQ(defaulted["spec"]["runStrategy"], "Always");  // running: true
  auto spec = to_hal_spec(defaulted["spec"]["template"]["spec"], {nullptr, "default-fedora-vm"});
  EXPECT_EQ(spec["cpu"]["vcpus"], 2);
  EXPECT_EQ(spec["memory"]["size"], "4Gi");
  EXPECT_EQ(spec["disks"][0]["path"], "/var/lib/hal/fedora.img");
  EXPECT_NO_THROW(hal::validate_spec_or_throw(spec));
}

TEST(Seeds, CirrosWithoutApiVersionIsRejectedForIt) {
  auto objects = load(HAL_API_TESTDATA_DIR "/seed-vm-cirros.yaml");
  ASSERT_EQ(objects.size(), 1u);
  auto errors = validate_object(objects[0]);
  ASSERT_EQ(errors.size(), 1u) << dump(errors);
  EXPECT_EQ(errors[0].path, "apiVersion");
  EXPECT_EQ(errors[0].message, "is required: VirtualMachine is kubevirt.io/v1");
}

TEST(Seeds, CirrosContainerDiskNeedsTheImageInTheCatalogue) {
  json vm = load(HAL_API_TESTDATA_DIR "/seed-vm-cirros.yaml")[0];
  vm["apiVersion"] = "kubevirt.io/v1";
  auto errors = validate_object(vm);
  ASSERT_TRUE(errors.empty()) << dump(errors);
  json spec = apply_defaults(vm)["spec"]["template"]["spec"];
  try {
    to_hal_spec(spec, {[](std::string_view) { return std::nullopt; }, "default-vm-cirros"});
    FAIL() << "translated an unknown image";
  } catch (const Error &e) {
    EXPECT_EQ(e.status(), HAL_INVALID_ARGUMENT);
    EXPECT_NE(std::string(e.what()).find("spec.volumes[containerdisk].containerDisk.image: "
                                         "unknown image \"quay.io/kubevirt/cirros-container-disk-"
                                         "demo\""),
              std::string::npos)
        << e.what();
  }
  // With the image in the catalogue (KubeVirt's layout: the disk under disk/), it translates.
  auto dir =
      std::filesystem::temp_directory_path() / ("hal-api-cirros-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir / "disk");
  {
    std::ofstream out(dir / "disk" / "cirros.qcow2", std::ios::binary);
    out.write("QFI\xfb\0\0\0\3", 8);
  }
  auto hal_spec = to_hal_spec(spec, {[&](std::string_view image) -> std::optional<std::string> {
                                       if (image == "quay.io/kubevirt/cirros-container-disk-demo")
                                         return dir.string();
                                       return std::nullopt;
                                     },
                                     "default-vm-cirros"});
  std::filesystem::remove_all(dir);
  EXPECT_EQ(hal_spec["disks"][0]["path"], (dir / "disk" / "cirros.qcow2").string());
  EXPECT_EQ(hal_spec["disks"][0]["format"], "qcow2");
  EXPECT_EQ(hal_spec["memory"]["size"], "62500Ki");  // 64M = 64,000,000 bytes
  EXPECT_EQ(hal_spec["nics"][0]["type"], "user");
  EXPECT_NO_THROW(hal::validate_spec_or_throw(hal_spec));
}

TEST(Examples, EveryManifestValidatesAndTranslates) {
  size_t vms = 0, pools = 0;
  for (const auto &entry : std::filesystem::directory_iterator(HAL_EXAMPLES_MANIFESTS_DIR)) {
    if (entry.path().extension() != ".yaml") continue;
    for (const auto &object : load(entry.path().string())) {
      auto errors = validate_object(object);
      EXPECT_TRUE(errors.empty()) << entry.path() << "\n" << format_errors(object, errors);
      json defaulted = apply_defaults(object);
      auto again = validate_object(defaulted);
      EXPECT_TRUE(again.empty()) << entry.path() << " after defaults\n"
                                 << format_errors(defaulted, again);
      EXPECT_EQ(apply_defaults(defaulted), defaulted) << "apply_defaults is not idempotent";
      if (object["kind"] == "NodePool") ++pools;
      if (object["kind"] != "VirtualMachine") continue;
      ++vms;
      TranslationContext context{[](std::string_view image) -> std::optional<std::string> {
                                   if (image == "hal/test-guest") return "/opt/hal/test-guest";
                                   return std::nullopt;
                                 },
                                 hal_vm_id(defaulted["metadata"]["namespace"].get<std::string>(),
                                           defaulted["metadata"]["name"].get<std::string>())};
      json spec = to_hal_spec(defaulted["spec"]["template"]["spec"], context);
      EXPECT_NO_THROW(hal::validate_spec_or_throw(spec)) << spec.dump(2);
    }
  }
  EXPECT_GE(vms, 2u);
  EXPECT_EQ(pools, 2u);
}

TEST(Examples, TestGuestTranslation) {
  json vm = load(HAL_EXAMPLES_MANIFESTS_DIR "/testguest-vm.yaml")[0];
  json spec = to_hal_spec(apply_defaults(vm)["spec"]["template"]["spec"],
                          {[](std::string_view) -> std::optional<std::string> {
                             return std::string("/opt/hal/test-guest/");
                           },
                           "default-testguest"});
  EXPECT_EQ(spec["name"], "default-testguest");
  EXPECT_EQ(spec["cpu"]["vcpus"], 1);
  EXPECT_EQ(spec["memory"]["size"], "256Mi");
  EXPECT_EQ(spec["boot"]["kernel"], "/opt/hal/test-guest/vmlinuz");
  EXPECT_EQ(spec["boot"]["initrd"], "/opt/hal/test-guest/initrd.img");
  EXPECT_EQ(spec["boot"]["cmdline"], "console=ttyS0 quiet");
  EXPECT_EQ(spec["nics"], json::parse(R"([{"name":"default","type":"user","model":"virtio"}])"));
  EXPECT_EQ(spec["console"]["serial"], true);
  auto request = resource_request(vm["spec"]["template"]["spec"]);
  EXPECT_EQ(request.vcpus, 1u);
  EXPECT_EQ(request.memory_bytes, 256ull << 20);
  EXPECT_TRUE(request.live_migratable);
  EXPECT_FALSE(request.needs_tdx);
}

}  // namespace
}  // namespace hal::controller
