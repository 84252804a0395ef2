// plugin_helper_test.cc - hal/plugin.hpp on its own: exceptions become statuses at the
// boundary, optional entries the author does not declare stay NULL, flags and NULLs are checked,
// and each backend reports the ABI version of the table it was opened through.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "hal/plugin.hpp"

namespace {

class TinyVm : public hal::plugin::Vm {
 public:
  void start(uint32_t) override { throw std::runtime_error("disk on fire"); }
  void force_stop() override { throw hal::plugin::Failure(HAL_ABORTED, "busy, retry"); }
  void remove(uint32_t) override { throw 42; }
  hal_vm_state state() override { return HAL_VM_STATE_STOPPED; }
  std::string info() override { return "{}"; }
  void pause() override {}                     // the only optional 1.0 entry implemented
  void snapshot(std::string_view) override {}  // an optional 1.1 entry
};

/** How often the thunks reached TinyBackend's close and create_vm. */
int g_close_calls = 0;
int g_create_calls = 0;

class TinyBackend : public hal::plugin::Backend {
 public:
  TinyBackend(std::string_view config, hal::plugin::EventSink) {
    if (config == "bad") throw hal::plugin::Failure(HAL_INVALID_ARGUMENT, "config: bad");
  }
  void close(uint32_t) override { ++g_close_calls; }
  std::string capabilities() override {
    return R"({"abiVersion":")" + abi_version_string() + R"(","operations":)" +
           hal::plugin::operations_json<TinyBackend, TinyVm>(abi_version()) + "}";
  }
  std::string host_info() override { return "{}"; }
  std::unique_ptr<hal::plugin::Vm> create_vm(std::string_view, uint32_t) override {
    ++g_create_calls;
    return std::make_unique<TinyVm>();
  }
  std::unique_ptr<hal::plugin::Vm> lookup_vm(std::string_view id) override {
    throw hal::plugin::Failure(HAL_NOT_FOUND, "no VM " + std::string(id));
  }
  std::string list_vms() override { return R"({"vms":[]})"; }
};

}  // namespace

HAL_DEFINE_PLUGIN(TinyBackend, TinyVm, R"({"name":"tiny"})");

namespace {

using ::testing::HasSubstr;

const hal_backend_table &Table() {
  const hal_backend_table *table = nullptr;
  EXPECT_EQ(hal_plugin_negotiate(HAL_ABI_VERSION, 0, &table, nullptr), HAL_OK);
  return *table;
}

TEST(PluginHelper, StdExceptionBecomesInternal) {
  const auto &t = Table();
  hal_backend *b = nullptr;
  hal_error error{sizeof(hal_error), 0, {}};
  ASSERT_EQ(t.open(nullptr, nullptr, nullptr, 0, &b, &error), HAL_OK);
  hal_vm *vm = nullptr;
  ASSERT_EQ(t.vm_create(b, "{}", 0, &vm, &error), HAL_OK);
  EXPECT_EQ(t.vm_start(vm, 0, &error), HAL_INTERNAL);
  EXPECT_THAT(error.message, HasSubstr("vm_start"));
  EXPECT_THAT(error.message, HasSubstr("disk on fire"));
  EXPECT_EQ(t.vm_force_stop(vm, 0, &error), HAL_ABORTED);  // Failure keeps its status
  EXPECT_STREQ(error.message, "busy, retry");
  EXPECT_EQ(t.vm_delete(vm, 0, &error), HAL_INTERNAL);  // even non-std exceptions
  EXPECT_EQ(t.vm_pause(vm, 0, &error), HAL_OK);
  EXPECT_STREQ(error.message, "");
  EXPECT_EQ(t.vm_pause(vm, 8, &error), HAL_INVALID_ARGUMENT);
  EXPECT_THAT(error.message, HasSubstr("0x8"));
  hal_vm *missing = reinterpret_cast<hal_vm *>(1);
  EXPECT_EQ(t.vm_lookup(b, "x", 0, &missing, &error), HAL_NOT_FOUND);
  EXPECT_EQ(missing, nullptr);
  t.vm_release(vm);
  EXPECT_EQ(t.close(b, 0, &error), HAL_OK);
  EXPECT_EQ(t.open("bad", nullptr, nullptr, 0, &b, &error), HAL_INVALID_ARGUMENT);
  EXPECT_EQ(b, nullptr);
}

TEST(PluginHelper, UndeclaredOptionalEntriesAreNull) {
  const auto &t = Table();
  EXPECT_NE(t.vm_pause, nullptr);
  EXPECT_EQ(t.vm_resume, nullptr);
  EXPECT_EQ(t.migration_send, nullptr);
  EXPECT_EQ(t.migration_prepare_incoming, nullptr);
  EXPECT_EQ(t.vm_restore, nullptr);
  std::string ops = hal::plugin::operations_json<TinyBackend, TinyVm>(HAL_ABI_VERSION);
  EXPECT_NE(ops.find("\"vm_pause\":true"), std::string::npos) << ops;
  EXPECT_NE(ops.find("\"vm_resume\":false"), std::string::npos) << ops;
  EXPECT_NE(ops.find("\"vm_create\":true"), std::string::npos) << ops;
  EXPECT_NE(ops.find("\"vm_snapshot\":true"), std::string::npos) << ops;
  ops = hal::plugin::operations_json<TinyBackend, TinyVm>(HAL_MAKE_VERSION(1, 0));
  EXPECT_NE(ops.find("\"vm_snapshot\":false"), std::string::npos) << "1.0 has no vm_snapshot";
}

TEST(PluginHelper, ExclusiveFlagPairsAreRefusedBeforeTheClass) {
  const auto &t = Table();
  hal_backend *b = nullptr;
  hal_error error{sizeof(hal_error), 0, {}};
  ASSERT_EQ(t.open(nullptr, nullptr, nullptr, 0, &b, &error), HAL_OK);
  const int creates = g_create_calls, closes = g_close_calls;
  hal_vm *vm = reinterpret_cast<hal_vm *>(1);
  EXPECT_EQ(t.vm_create(b, "{}", HAL_CREATE_VALIDATE_ONLY | HAL_CREATE_START, &vm, &error),
            HAL_INVALID_ARGUMENT);
  EXPECT_EQ(vm, nullptr);
  EXPECT_THAT(error.message, HasSubstr("HAL_CREATE_VALIDATE_ONLY and HAL_CREATE_START"));
  EXPECT_EQ(g_create_calls, creates) << "the backend class saw the refused vm_create";
  EXPECT_EQ(t.close(b, HAL_CLOSE_KEEP_VMS | HAL_CLOSE_STOP_VMS, &error), HAL_INVALID_ARGUMENT);
  EXPECT_THAT(error.message, HasSubstr("HAL_CLOSE_KEEP_VMS and HAL_CLOSE_STOP_VMS"));
  EXPECT_EQ(g_close_calls, closes) << "the backend class saw the refused close";
  // Each flag alone still reaches the class, and the backend is still open.
  ASSERT_EQ(t.vm_create(b, "{}", HAL_CREATE_START, &vm, &error), HAL_OK);
  t.vm_release(vm);
  EXPECT_EQ(g_create_calls, creates + 1);
  EXPECT_EQ(t.close(b, HAL_CLOSE_STOP_VMS, &error), HAL_OK);
  EXPECT_EQ(g_close_calls, closes + 1);
}

/** get_capabilities of `backend` through `table`, as text. */
std::string Capabilities(const hal_backend_table &table, hal_backend *backend) {
  char *out = nullptr;
  EXPECT_EQ(table.get_capabilities(backend, 0, &out, nullptr), HAL_OK);
  std::string text = out != nullptr ? out : "";
  table.free_string(out);
  return text;
}

TEST(PluginHelper, NegotiatedVersionFollowsTheHostsOffer) {
  const hal_backend_table *table = nullptr;
  ASSERT_EQ(hal_plugin_negotiate(HAL_MAKE_VERSION(1, 0), 0, &table, nullptr), HAL_OK);
  EXPECT_EQ(table->abi_version, HAL_MAKE_VERSION(1, 0));
  EXPECT_EQ(table->struct_size, HAL_BACKEND_TABLE_V1_0_SIZE);
  ASSERT_EQ(hal_plugin_negotiate(HAL_MAKE_VERSION(1, 7), 0, &table, nullptr), HAL_OK);
  EXPECT_EQ(table->abi_version, HAL_ABI_VERSION) << "a newer host minor gets the plugin's newest";
}

// Two hosts in one process negotiate different minors: each backend reports the version of the
// table it was opened through, whatever was negotiated later (hal.h, get_capabilities; LC-002).
TEST(PluginHelper, EachBackendReportsTheVersionOfItsOwnTable) {
  const hal_backend_table *old_host = nullptr, *new_host = nullptr;
  ASSERT_EQ(hal_plugin_negotiate(HAL_MAKE_VERSION(1, 0), 0, &old_host, nullptr), HAL_OK);
  hal_backend *old_backend = nullptr;
  ASSERT_EQ(old_host->open(nullptr, nullptr, nullptr, 0, &old_backend, nullptr), HAL_OK);
  ASSERT_EQ(hal_plugin_negotiate(HAL_ABI_VERSION, 0, &new_host, nullptr), HAL_OK);
  hal_backend *new_backend = nullptr;
  ASSERT_EQ(new_host->open(nullptr, nullptr, nullptr, 0, &new_backend, nullptr), HAL_OK);

  const std::string old_caps = Capabilities(*old_host, old_backend);
  const std::string new_caps = Capabilities(*new_host, new_backend);
  EXPECT_THAT(old_caps, HasSubstr(R"("abiVersion":"1.0")"));
  EXPECT_THAT(old_caps, HasSubstr(R"("vm_snapshot":false)"));
  EXPECT_THAT(new_caps, HasSubstr(R"("abiVersion":"1.1")"));
  EXPECT_THAT(new_caps, HasSubstr(R"("vm_snapshot":true)"));
  EXPECT_EQ(old_host->close(old_backend, 0, nullptr), HAL_OK);
  EXPECT_EQ(new_host->close(new_backend, 0, nullptr), HAL_OK);
}

}  // namespace
