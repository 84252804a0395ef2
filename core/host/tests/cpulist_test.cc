// cpulist_test.cc - parsing and formatting of Linux cpulists.
#include "core/host/cpulist.h"

#include <gtest/gtest.h>

namespace hal {
namespace {

using Ids = std::vector<uint32_t>;

TEST(ParseCpulist, Forms) {
  EXPECT_EQ(parse_cpulist("0-3,8,10-11"), (Ids{0, 1, 2, 3, 8, 10, 11}));
  EXPECT_EQ(parse_cpulist("5"), (Ids{5}));
  EXPECT_EQ(parse_cpulist("0-31\n"), parse_cpulist("0-31"));
  EXPECT_EQ(parse_cpulist(""), Ids{});
  EXPECT_EQ(parse_cpulist("\n"), Ids{});
  EXPECT_EQ(parse_cpulist("8,0-1,1"), (Ids{0, 1, 8}));  // sorted, de-duplicated
  EXPECT_EQ(parse_cpulist("3-3"), (Ids{3}));
}

TEST(ParseCpulist, Malformed) {
  for (const char *bad : {"a", "1-", "-1", "3-1", "1,,2", ",1", "1,", "1 - 2", "0x1", "1-2-3",
                          "1048576", "0-99999999"}) {
    EXPECT_EQ(parse_cpulist(bad), std::nullopt) << bad;
  }
}

TEST(FormatCpulist, Compacts) {
  EXPECT_EQ(format_cpulist({0, 1, 2, 3, 8, 10, 11}), "0-3,8,10-11");
  EXPECT_EQ(format_cpulist({}), "");
  EXPECT_EQ(format_cpulist({7, 5, 6, 5}), "5-7");
  EXPECT_EQ(parse_cpulist(format_cpulist({1, 3, 4, 9})), (Ids{1, 3, 4, 9}));
}

}  // namespace
}  // namespace hal
