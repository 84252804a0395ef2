// plugin_under_test.cc - a plugin loaded through hal::Plugin for tests (see plugin_under_test.h).
#include "testing/plugin_under_test.h"

#include <map>
#include <mutex>
#include <stdexcept>

namespace hal::testing {

PluginUnderTest::PluginUnderTest(const std::filesystem::path &library)
    : plugin_(Plugin::load(library)) {}

hal_status PluginUnderTest::negotiate(uint32_t offered, uint32_t flags,
                                      const hal_backend_table **out, hal_error *error) const {
  return plugin_->negotiate_entry()(offered, flags, out, error);
}

const hal_backend_table &PluginUnderTest::table_for(uint32_t offered) const {
  const hal_backend_table *out = nullptr;
  hal_error error{};
  error.struct_size = sizeof error;
  if (negotiate(offered, 0, &out, &error) != HAL_OK || out == nullptr) {
    throw std::runtime_error(std::string("negotiate: ") + error.message);
  }
  return *out;
}

std::string PluginUnderTest::take(char *text) const {
  std::string out = text != nullptr ? text : "";
  table().free_string(text);
  return out;
}

const PluginUnderTest &plugin_under_test(const std::filesystem::path &library) {
  static std::mutex mutex;
  // Never destroyed: the plugin stays mapped until the program exits.
  static auto *loaded = new std::map<std::filesystem::path, std::unique_ptr<PluginUnderTest>>();
  std::lock_guard lock(mutex);
  auto &slot = (*loaded)[library];
  if (!slot) slot = std::make_unique<PluginUnderTest>(library);
  return *slot;
}

}  // namespace hal::testing
