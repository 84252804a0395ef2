// throwing_plugin.cc - a buggy C++ test plugin: its get_identity throws a C++ exception across
// the C ABI. Reuses the C test plugin's table (built with TEST_CUSTOM_NEGOTIATE).
#include <stdexcept>

#include "hal/hal.h"

extern "C" const hal_backend_table *test_plugin_base_table(void);

namespace {

hal_status throwing_identity(uint32_t, char **, hal_error *) {
  throw std::runtime_error("oops: a C++ bug in the plugin");
}

hal_backend_table make_table() {
  hal_backend_table t = *test_plugin_base_table();
  t.get_identity = &throwing_identity;
  return t;
}

}  // namespace

extern "C" HAL_PLUGIN_EXPORT hal_status hal_plugin_negotiate(uint32_t, uint32_t flags,
                                                             const hal_backend_table **out_table,
                                                             hal_error *) {
  if (out_table == nullptr || flags != 0) return HAL_INVALID_ARGUMENT;
  static const hal_backend_table table = make_table();
  *out_table = &table;
  return HAL_OK;
}
