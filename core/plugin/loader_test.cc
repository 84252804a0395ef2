// loader_test.cc - plugin loading, negotiation and table validation, with deliberately broken
// test plugins: each is rejected with a clear one-line reason and the host stays alive.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "core/plugin/backend.h"
#include "core/plugin/plugin.h"

namespace {

using ::testing::HasSubstr;

std::string load_error(const char *path, hal_status *status = nullptr) {
  try {
    hal::Plugin::load(path);
  } catch (const hal::Error &e) {
    if (status) *status = e.status();
    std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "reason must be one line: " << msg;
    return msg;
  }
  ADD_FAILURE() << path << " loaded but should have been rejected";
  return {};
}

TEST(PluginLoader, GoodPluginLoads) {
  auto p = hal::Plugin::load(HAL_TEST_PLUGIN_GOOD);
  EXPECT_EQ(p->name(), "testplug");
  EXPECT_EQ(p->identity()["version"], "0.1.0");
  EXPECT_EQ(p->offered_version(), HAL_ABI_VERSION);
  EXPECT_EQ(p->negotiated_version(), HAL_ABI_VERSION);
  EXPECT_EQ(p->table_size(), sizeof(hal_backend_table));
  EXPECT_TRUE(p->has("vm_start"));
  EXPECT_TRUE(p->has("vm_snapshot"));
  EXPECT_FALSE(p->has("vm_restore"));
  EXPECT_FALSE(p->has("vm_shutdown"));
  EXPECT_FALSE(p->has("no_such_entry"));
  auto cov = p->coverage();
  ASSERT_EQ(cov.size(), 29u);
  EXPECT_EQ(cov.front().first, "get_identity");
  EXPECT_TRUE(cov.front().second);
}

TEST(PluginLoader, NewerMajorRejected) {
  hal_status st = HAL_OK;
  EXPECT_EQ(load_error(HAL_TEST_PLUGIN_NEWER_MAJOR, &st),
            "plugin libhal-test-newer-major.so: built for HAL ABI 2.0, host speaks 1.1");
  EXPECT_EQ(st, HAL_FAILED_PRECONDITION);
}

TEST(PluginLoader, MissingEntrySymbolRejected) {
  EXPECT_EQ(load_error(HAL_TEST_PLUGIN_NO_ENTRY),
            "plugin libhal-test-no-entry.so: no entry symbol 'hal_plugin_negotiate' "
            "(not a HAL plugin?)");
}

TEST(PluginLoader, TableTooSmallRejected) {
  EXPECT_EQ(load_error(HAL_TEST_PLUGIN_SMALL_TABLE),
            "plugin libhal-test-small-table.so: table too small: 96 bytes, ABI 1.0 needs " +
                std::to_string(HAL_BACKEND_TABLE_V1_0_SIZE));
}

TEST(PluginLoader, NullRequiredEntryRejected) {
  EXPECT_EQ(load_error(HAL_TEST_PLUGIN_NULL_REQUIRED),
            "plugin libhal-test-null-required.so: required entry 'vm_start' is NULL");
}

TEST(PluginLoader, RefusedNegotiationReportsPluginMessage) {
  EXPECT_EQ(load_error(HAL_TEST_PLUGIN_REFUSE),
            "plugin libhal-test-refuse.so: refused negotiation (FAILED_PRECONDITION): "
            "testplug speaks HAL ABI 7.x only");
}

TEST(PluginLoader, ThrowingEntryRejectedHostAlive) {
  hal_status st = HAL_OK;
  std::string msg = load_error(HAL_TEST_PLUGIN_THROWS, &st);
  EXPECT_THAT(msg, HasSubstr("plugin libhal-test-throws.so: "));
  EXPECT_THAT(msg, HasSubstr("plugin entry 'get_identity' threw a C++ exception across the C ABI"));
  EXPECT_EQ(st, HAL_INTERNAL);
  // Still alive, and a good plugin still loads afterwards.
  EXPECT_EQ(hal::Plugin::load(HAL_TEST_PLUGIN_GOOD)->name(), "testplug");
}

TEST(PluginLoader, MissingFileRejected) {
  hal_status st = HAL_OK;
  EXPECT_THAT(load_error("/nonexistent/libnope.so", &st),
              HasSubstr("plugin libnope.so: library not found"));
  EXPECT_EQ(st, HAL_NOT_FOUND);
}

TEST(PluginLoader, NotASharedObjectRejected) {
  // A test source file is certainly not an ELF object (absolute path: the build dir may be
  // anywhere relative to the sources).
  EXPECT_THAT(load_error(HAL_LOADER_TEST_SOURCE),
              HasSubstr("plugin loader_test.cc: cannot load library: "));
}

TEST(PluginLoader, GuardedCallTurnsExceptionIntoInternal) {
  hal::ErrorBuffer err;
  hal_status st = hal::guarded_call("vm_start", err.get(), []() -> hal_status { throw 42; });
  EXPECT_EQ(st, HAL_INTERNAL);
  EXPECT_EQ(err.message(), "plugin entry 'vm_start' threw a C++ exception across the C ABI");
}

TEST(PluginLoader, OlderMinorLoadsAndAnswersUnsupported) {
  auto p = hal::Plugin::load(HAL_TEST_PLUGIN_OLDER_MINOR);
  EXPECT_EQ(p->negotiated_version(), HAL_MAKE_VERSION(1, 0));
  EXPECT_EQ(p->table_size(), HAL_BACKEND_TABLE_V1_0_SIZE);
  // The 1.1 entries lie beyond struct_size (the plugin fills them with abort()ing stubs in
  // memory past that size, so calling one would kill the test).
  for (const char *e : {"vm_snapshot", "vm_restore", "vm_attach_device", "vm_detach_device"}) {
    EXPECT_FALSE(p->has(e)) << e;
  }
  auto backend = hal::Backend::open(p);
  auto vm = backend.create({{"apiVersion", "hal.dev/v1"},
                            {"name", "old"},
                            {"cpu", {{"vcpus", 1}}},
                            {"memory", {{"size", "64Mi"}}}});
  vm.start(HAL_START_PAUSED);
  auto expect_unsupported = [](auto &&fn, const std::string &entry) {
    try {
      fn();
      ADD_FAILURE() << entry << " did not throw";
    } catch (const hal::Error &e) {
      EXPECT_EQ(e.status(), HAL_UNSUPPORTED);
      EXPECT_THAT(e.what(),
                  HasSubstr("operation '" + entry + "' is not supported by backend testplug"));
    }
  };
  expect_unsupported([&] { vm.snapshot({{"destination", "/tmp/x"}}); }, "vm_snapshot");
  expect_unsupported([&] { backend.restore({{"source", "/tmp/x"}}); }, "vm_restore");
  expect_unsupported([&] { vm.attach_device({{"kind", "disk"}}); }, "vm_attach_device");
  expect_unsupported([&] { vm.detach_device("d0"); }, "vm_detach_device");
  vm.force_stop();
}

}  // namespace
