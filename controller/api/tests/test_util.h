// test_util.h - helpers for the hal_controller_api tests: YAML to one object, error matching.
#ifndef HAL_CONTROLLER_API_TESTS_TEST_UTIL_H
#define HAL_CONTROLLER_API_TESTS_TEST_UTIL_H

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "controller/api/kubevirt_api.h"

namespace hal::controller::testing {

/** The single object in `yaml`. */
inline nlohmann::json one(const std::string &yaml) {
  auto objects = parse_manifests(yaml);
  EXPECT_EQ(objects.size(), 1u);
  return objects.empty() ? nlohmann::json() : objects.front();
}

/** Reads a whole file. */
inline std::string read_file(const std::string &path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/** All errors as text, for failure messages. */
inline std::string dump(const std::vector<FieldError> &errors) {
  std::string out;
  for (const auto &e : errors) out += e.path + ": " + e.message + "\n";
  return out;
}

/** True when some error has exactly `path` and a message containing `text`. */
inline bool has_error(const std::vector<FieldError> &errors, const std::string &path,
                      const std::string &text) {
  for (const auto &e : errors) {
    if (e.path == path && e.message.find(text) != std::string::npos) return true;
  }
  return false;
}

/** A minimal valid VirtualMachine whose template spec is `template_spec` (YAML, indented for
 *  "    spec:" children, i.e. 6 spaces). */
inline std::string vm_yaml(const std::string &template_spec) {
  return "apiVersion: kubevirt.io/v1\n"
         "kind: VirtualMachine\n"
         "metadata:\n"
         "  name: t\n"
         "spec:\n"
         "  runStrategy: Always\n"
         "  template:\n"
         "    spec:\n" +
         template_spec;
}

}  // namespace hal::controller::testing

#endif  // HAL_CONTROLLER_API_TESTS_TEST_UTIL_H
