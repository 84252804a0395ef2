// plugin_under_test.h - a backend plugin a test drives through its raw C table, loaded the way
// every host loads one (hal::Plugin::load: Boost.DLL, negotiation, table and identity checks),
// once per test program; plus negotiating again with another offered ABI version.
#ifndef HAL_TESTING_PLUGIN_UNDER_TEST_H
#define HAL_TESTING_PLUGIN_UNDER_TEST_H

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "core/plugin/plugin.h"
#include "hal/hal.h"

namespace hal::testing {

/** A loaded plugin and its negotiated table. */
class PluginUnderTest {
 public:
  /** Loads `library` with hal::Plugin::load; throws hal::Error with its reason on failure. */
  explicit PluginUnderTest(const std::filesystem::path &library);

  /** The loaded plugin. */
  const std::shared_ptr<const Plugin> &plugin() const { return plugin_; }
  /** Its table as negotiated at load (the host offering HAL_ABI_VERSION). */
  const hal_backend_table &table() const { return *plugin_->table(); }
  /** Calls the plugin's hal_plugin_negotiate again with `offered` and `flags` and answers what
   *  it answers, unchecked: for tests of negotiation itself. */
  hal_status negotiate(uint32_t offered, uint32_t flags, const hal_backend_table **out,
                       hal_error *error) const;
  /** The table the plugin answers when the host offers `offered`; throws std::runtime_error
   *  ("negotiate: <message>") when it refuses. */
  const hal_backend_table &table_for(uint32_t offered) const;
  /** Takes a string the plugin returned and frees it with the plugin's free_string. */
  std::string take(char *text) const;

 private:
  std::shared_ptr<const Plugin> plugin_;
};

/** The PluginUnderTest for `library`, loaded on first use and kept until the program ends (a
 *  plugin's threads may outlive any one test). Throws as the constructor does. */
const PluginUnderTest &plugin_under_test(const std::filesystem::path &library);

}  // namespace hal::testing

#endif  // HAL_TESTING_PLUGIN_UNDER_TEST_H
