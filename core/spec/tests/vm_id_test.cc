// vm_id_test.cc - vm_id_problem: ids that could escape a state directory are refused.
#include "core/spec/vm_id.h"

#include <gtest/gtest.h>

#include <string>

namespace hal {
namespace {

TEST(VmId, AcceptsDnsLabels) {
  EXPECT_TRUE(is_valid_vm_id("default-testguest"));
  EXPECT_TRUE(is_valid_vm_id("a--b-c"));
  EXPECT_TRUE(is_valid_vm_id("0"));
  EXPECT_TRUE(is_valid_vm_id(std::string(63, 'x')));
}

TEST(VmId, RefusesWhatCouldEscapeOrMisname) {
  for (const char *bad : {"", ".", "..", "../etc", "a/b", "/abs", "a..b", "A", "-a", "a-", "a_b",
                          "a b", "a\nb", "vm.1"}) {
    EXPECT_FALSE(is_valid_vm_id(bad)) << "'" << bad << "'";
  }
  EXPECT_EQ(vm_id_problem(std::string(64, 'x')), "is 64 characters long (at most 63)");
  EXPECT_EQ(vm_id_problem(std::string("a\0b", 3)),
            "must be a DNS-1123 label: lower-case letters, digits and '-' only");
}

}  // namespace
}  // namespace hal
