// discovery_test.cc - manifest discovery on a search path and the plugin registry, with
// manifests written to a temporary directory.
#include "core/plugin/discovery.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/plugin/registry.h"

namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class PluginDiscovery : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("hal-discovery-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    fs::copy_file(HAL_TEST_PLUGIN_GOOD, dir_ / "libhal-test-good.so");
    fs::copy_file(HAL_TEST_PLUGIN_NEWER_MAJOR, dir_ / "libhal-test-newer-major.so");
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write(const std::string &file, const std::string &text) {
    std::ofstream(dir_ / file) << text;
  }
  std::string reason_for(const hal::DiscoveryResult &r, const std::string &file) {
    for (const auto &p : r.problems) {
      if (p.manifest_path.filename() == file) return p.reason;
    }
    return "(no problem reported for " + file + ")";
  }

  fs::path dir_;
};

TEST_F(PluginDiscovery, GoodMalformedAndMissingLibrary) {
  write("good.hal.json",
        R"({"name":"good","library":"libhal-test-good.so","abi":{"major":1},"description":"d"})");
  write("broken.hal.json", R"({"name": "broken", )");
  write("missing.hal.json", R"({"name":"missing","library":"libnothere.so","abi":{"major":1}})");
  write("noabi.hal.json", R"({"name":"noabi","library":"libhal-test-good.so"})");
  write("future.hal.json",
        R"({"name":"future","library":"libhal-test-good.so","abi":{"major":2}})");
  write("wrongname.hal.json",
        R"({"name":"other","library":"libhal-test-good.so","abi":{"major":1}})");
  write("README.txt", "not a manifest");

  hal::SearchPath path({dir_, dir_ / "does-not-exist"});
  auto result = path.discover();
  ASSERT_EQ(result.plugins.size(), 1u);
  EXPECT_EQ(result.plugins[0].name, "good");
  EXPECT_EQ(result.plugins[0].description, "d");
  EXPECT_EQ(result.plugins[0].library, dir_ / "libhal-test-good.so");
  EXPECT_EQ(result.problems.size(), 5u);
  EXPECT_EQ(reason_for(result, "broken.hal.json"), "manifest is not valid JSON");
  EXPECT_THAT(reason_for(result, "missing.hal.json"),
              HasSubstr("library 'libnothere.so' not found"));
  EXPECT_THAT(reason_for(result, "noabi.hal.json"), HasSubstr("\"abi\" must be"));
  EXPECT_EQ(reason_for(result, "future.hal.json"), "built for HAL ABI major 2, host speaks 1");
  EXPECT_THAT(reason_for(result, "wrongname.hal.json"), HasSubstr("\"name\" is 'other'"));
}

TEST_F(PluginDiscovery, EnvPathComesFirst) {
  ::setenv("HAL_PLUGIN_PATH", (dir_.string() + "::/nonexistent").c_str(), 1);
  auto path = hal::SearchPath::from_env({"/usr/lib/hal/plugins"});
  ::unsetenv("HAL_PLUGIN_PATH");
  ASSERT_EQ(path.dirs().size(), 3u);
  EXPECT_EQ(path.dirs()[0], dir_);
  EXPECT_EQ(path.dirs()[1], "/nonexistent");
  EXPECT_EQ(path.dirs()[2], "/usr/lib/hal/plugins");
}

TEST_F(PluginDiscovery, RegistryLoadsByNameAndRecordsDisabled) {
  write("good.hal.json", R"({"name":"good","library":"libhal-test-good.so","abi":{"major":1}})");
  // The manifest claims major 1, but the library answers 2.0 at negotiation.
  write("liar.hal.json",
        R"({"name":"liar","library":"libhal-test-newer-major.so","abi":{"major":1}})");
  write("broken.hal.json", "[]");

  hal::PluginRegistry registry(hal::SearchPath({dir_}));
  EXPECT_EQ(registry.load_all(), 1u);
  auto good = registry.load("good");
  ASSERT_TRUE(good);
  EXPECT_EQ(good->name(), "testplug");  // identity name
  EXPECT_EQ(registry.find("testplug"), good);
  EXPECT_THROW(registry.load("nothing"), hal::Error);

  auto records = registry.list();
  ASSERT_EQ(records.size(), 3u);
  int loaded = 0, disabled = 0;
  for (const auto &r : records) {
    if (r.loaded()) {
      ++loaded;
      EXPECT_TRUE(r.disabled_reason.empty());
    } else {
      ++disabled;
      EXPECT_FALSE(r.disabled_reason.empty());
    }
    if (r.manifest.filename() == "liar.hal.json") {
      EXPECT_EQ(r.disabled_reason,
                "plugin libhal-test-newer-major.so: built for HAL ABI 2.0, host speaks 1.1");
    }
    if (r.manifest.filename() == "broken.hal.json") {
      EXPECT_THAT(r.disabled_reason, HasSubstr("manifest must be a JSON object"));
    }
  }
  EXPECT_EQ(loaded, 1);
  EXPECT_EQ(disabled, 2);
}

TEST_F(PluginDiscovery, RegistryLoadPathRecordsFailure) {
  hal::PluginRegistry registry{hal::SearchPath()};
  EXPECT_THROW(registry.load_path(HAL_TEST_PLUGIN_NULL_REQUIRED), hal::Error);
  auto p = registry.load_path(HAL_TEST_PLUGIN_GOOD);
  EXPECT_EQ(registry.load_path(HAL_TEST_PLUGIN_GOOD), p);  // loaded once
  auto records = registry.list();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].disabled_reason,
            "plugin libhal-test-null-required.so: required entry 'vm_start' is NULL");
  EXPECT_TRUE(records[1].loaded());
}

}  // namespace
