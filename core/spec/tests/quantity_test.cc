// quantity_test.cc - edge cases of Kubernetes-style quantity parsing and formatting.
#include "core/spec/quantity.h"

#include <gtest/gtest.h>

namespace hal {
namespace {

TEST(ParseQuantity, PlainBytes) {
  EXPECT_EQ(parse_quantity("0"), 0u);
  EXPECT_EQ(parse_quantity("1073741824"), 1073741824u);
  EXPECT_EQ(parse_quantity("000512"), 512u);
}

TEST(ParseQuantity, BinarySuffixes) {
  EXPECT_EQ(parse_quantity("1Ki"), 1024u);
  EXPECT_EQ(parse_quantity("512Mi"), 512ull << 20);
  EXPECT_EQ(parse_quantity("1Gi"), 1ull << 30);
  EXPECT_EQ(parse_quantity("2Ti"), 2ull << 40);
  EXPECT_EQ(parse_quantity("1Pi"), 1ull << 50);
  EXPECT_EQ(parse_quantity("15Ei"), 15ull << 60);
}

TEST(ParseQuantity, DecimalSuffixes) {
  EXPECT_EQ(parse_quantity("1k"), 1000u);
  EXPECT_EQ(parse_quantity("2G"), 2000000000u);
  EXPECT_EQ(parse_quantity("3M"), 3000000u);
  EXPECT_EQ(parse_quantity("1E"), 1000000000000000000u);
}

TEST(ParseQuantity, Fractions) {
  EXPECT_EQ(parse_quantity("1.5Gi"), 3ull << 29);
  EXPECT_EQ(parse_quantity("0.5Ki"), 512u);
  EXPECT_EQ(parse_quantity("2.50M"), 2500000u);
  EXPECT_EQ(parse_quantity("1.000000000000000000000000Gi"), 1ull << 30);  // trailing zeros
  EXPECT_EQ(parse_quantity("0.5"), std::nullopt);                         // half a byte
  EXPECT_EQ(parse_quantity("1.1Ki"), std::nullopt);                       // 1126.4 bytes
  EXPECT_EQ(parse_quantity("1.0000000000000000001E"), std::nullopt);      // too precise
}

TEST(ParseQuantity, Overflow) {
  EXPECT_EQ(parse_quantity("18446744073709551615"), UINT64_MAX);
  EXPECT_EQ(parse_quantity("18446744073709551616"), std::nullopt);
  EXPECT_EQ(parse_quantity("99999999999999999999999999"), std::nullopt);
  EXPECT_EQ(parse_quantity("16Ei"), std::nullopt);
  EXPECT_EQ(parse_quantity("15.99Ei"), std::nullopt);  // not whole bytes
  EXPECT_EQ(parse_quantity("19E"), std::nullopt);
  EXPECT_EQ(parse_quantity("18446744073709551615Ki"), std::nullopt);
}

TEST(ParseQuantity, Malformed) {
  for (const char *bad : {"", " 1Gi", "1Gi ", "+1", "-1", "1gi", "1K", "1m", "1Gib", "Gi", ".5Gi",
                          "1.", "1.Gi", "1e3", "0x10", "1 Gi", "1,5Gi"}) {
    EXPECT_EQ(parse_quantity(bad), std::nullopt) << bad;
  }
}

TEST(FormatQuantity, ShortestExactBinary) {
  EXPECT_EQ(format_quantity(0), "0");
  EXPECT_EQ(format_quantity(1000), "1000");
  EXPECT_EQ(format_quantity(1ull << 30), "1Gi");
  EXPECT_EQ(format_quantity(3ull << 29), "1536Mi");
  EXPECT_EQ(parse_quantity(format_quantity(UINT64_MAX)), UINT64_MAX);
}

}  // namespace
}  // namespace hal
