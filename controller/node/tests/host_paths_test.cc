// host_paths_test.cc - confine_host_paths: a spec's host files must lie inside the node's roots,
// judged after symlinks and ".." are resolved; errors name the field and the roots.
#include "controller/node/host_paths.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "hal/host.hpp"
#include "testing/temp_dir.h"

namespace hal::node {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class HostPathsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(root() / "images");
    std::ofstream(root() / "images" / "disk.img") << "disk";
    std::ofstream(root() / "images" / "vmlinuz") << "kernel";
    std::ofstream(tmp_.path() / "outside.img") << "secret";
  }
  fs::path root() const { return tmp_.path() / "root"; }
  std::vector<fs::path> roots() const { return {root() / "images", "/nonexistent/hal-images"}; }

  // The message confine_host_paths throws for `spec` ("" when it accepts it).
  std::string refusal(json &spec) {
    try {
      confine_host_paths(spec, roots(), "spec_json");
    } catch (const Error &e) {
      EXPECT_EQ(e.status(), HAL_INVALID_ARGUMENT);
      return e.what();
    }
    return "";
  }
  std::string roots_text() const {
    return "(" + (root() / "images").string() + ", /nonexistent/hal-images)";
  }

  hal::testing::TempDir tmp_;
};

TEST_F(HostPathsTest, PathsInsideARootAreKeptInCanonicalForm) {
  json spec = {
      {"boot", {{"kernel", (root() / "images/./vmlinuz").string()}}},
      {"disks", {{{"name", "d"}, {"path", (root() / "images/sub/../disk.img").string()}}}}};
  EXPECT_EQ(refusal(spec), "");
  EXPECT_EQ(spec["boot"]["kernel"], fs::canonical(root() / "images/vmlinuz").string());
  EXPECT_EQ(spec["disks"][0]["path"], fs::canonical(root() / "images/disk.img").string());
  json none = {{"name", "x"}};
  EXPECT_EQ(refusal(none), "");
}

// Issue 25: /etc/shadow as a hostDisk was handed to the guest.
TEST_F(HostPathsTest, AHostFileOutsideTheRootsIsRefusedNamingTheFieldAndTheRoots) {
  json spec = {{"disks",
                {{{"name", "a"}, {"path", (root() / "images/disk.img").string()}},
                 {{"name", "b"}, {"path", "/etc/shadow"}}}}};
  EXPECT_EQ(refusal(spec),
            "spec_json.disks[1].path: '/etc/shadow' is outside the allowed host "
            "path roots " +
                roots_text());
}

TEST_F(HostPathsTest, DotDotAndSymlinksOutOfARootAreRefused) {
  const std::string climbing = (root() / "images/../../outside.img").string();
  json spec = {{"boot", {{"initrd", climbing}}}};
  EXPECT_EQ(refusal(spec), "spec_json.boot.initrd: '" + climbing + "' (" +
                               fs::canonical(tmp_.path() / "outside.img").string() +
                               ") is outside the allowed host path roots " + roots_text());
  fs::create_symlink("/etc/shadow", root() / "images" / "shadow.img");
  json linked = {{"boot", {{"firmware", {{"path", (root() / "images/shadow.img").string()}}}}}};
  EXPECT_NE(
      refusal(linked).find("spec_json.boot.firmware.path: '" +
                           (root() / "images/shadow.img").string() + "' (/etc/shadow) is outside"),
      std::string::npos);
  // A directory named like a root's prefix is not inside it.
  fs::create_directories(root() / "images-evil");
  json prefix = {{"boot", {{"kernel", (root() / "images-evil/k").string()}}}};
  EXPECT_NE(refusal(prefix).find("is outside"), std::string::npos);
  json relative = {{"boot", {{"kernel", "images/vmlinuz"}}}};
  EXPECT_EQ(refusal(relative), "spec_json.boot.kernel: 'images/vmlinuz' must be an absolute path");
}

TEST_F(HostPathsTest, NoRootsAllowNoHostPaths) {
  json spec = {{"boot", {{"kernel", (root() / "images/vmlinuz").string()}}}};
  try {
    confine_host_paths(spec, {}, "spec");
    ADD_FAILURE() << "accepted a host path with no roots";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("(none configured)"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace hal::node
