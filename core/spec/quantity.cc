// quantity.cc - parsing and formatting of Kubernetes-style byte quantities.
#include "core/spec/quantity.h"

#include <array>
#include <limits>
#include <utility>

namespace hal {
namespace {

using u128 = unsigned __int128;

// Suffix -> multiplier. Longest suffixes first so "Mi" wins over "M".
std::optional<uint64_t> suffix_multiplier(std::string_view suffix) {
  static constexpr std::array<std::pair<std::string_view, uint64_t>, 13> kSuffixes = {{
      {"", 1ULL},
      {"Ki", 1ULL << 10},
      {"Mi", 1ULL << 20},
      {"Gi", 1ULL << 30},
      {"Ti", 1ULL << 40},
      {"Pi", 1ULL << 50},
      {"Ei", 1ULL << 60},
      {"k", 1000ULL},
      {"M", 1000000ULL},
      {"G", 1000000000ULL},
      {"T", 1000000000000ULL},
      {"P", 1000000000000000ULL},
      {"E", 1000000000000000000ULL},
  }};
  for (const auto &[name, mult] : kSuffixes) {
    if (name == suffix) return mult;
  }
  return std::nullopt;
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

}  // namespace

std::optional<uint64_t> parse_quantity(std::string_view text) {
  size_t i = 0;
  // Integer part: at least one digit, saturating detection of overflow.
  u128 whole = 0;
  const size_t whole_start = i;
  while (i < text.size() && is_digit(text[i])) {
    whole = whole * 10 + static_cast<unsigned>(text[i] - '0');
    if (whole > std::numeric_limits<uint64_t>::max()) return std::nullopt;
    ++i;
  }
  if (i == whole_start) return std::nullopt;

  // Optional fraction: at least one digit after '.'; trailing zeros do not count.
  u128 frac = 0;
  u128 frac_scale = 1;
  if (i < text.size() && text[i] == '.') {
    ++i;
    const size_t frac_start = i;
    size_t pending_zeros = 0;
    while (i < text.size() && is_digit(text[i])) {
      if (text[i] == '0') {
        ++pending_zeros;
      } else {
        for (; pending_zeros > 0; --pending_zeros) {
          frac *= 10;
          frac_scale *= 10;
          if (frac_scale > 1000000000000000000ULL) return std::nullopt;  // too precise
        }
        frac = frac * 10 + static_cast<unsigned>(text[i] - '0');
        frac_scale *= 10;
        if (frac_scale > 1000000000000000000ULL) return std::nullopt;
      }
      ++i;
    }
    if (i == frac_start) return std::nullopt;
  }

  const auto mult = suffix_multiplier(text.substr(i));
  if (!mult) return std::nullopt;

  // whole < 2^64, mult <= 2^60: the product fits in 128 bits; so does frac * mult (< 2^120).
  const u128 whole_bytes = whole * *mult;
  const u128 frac_bytes = frac * *mult;
  if (frac_bytes % frac_scale != 0) return std::nullopt;  // not a whole number of bytes
  const u128 total = whole_bytes + frac_bytes / frac_scale;
  if (total > std::numeric_limits<uint64_t>::max()) return std::nullopt;
  return static_cast<uint64_t>(total);
}

std::string format_quantity(uint64_t bytes) {
  static constexpr std::array<std::string_view, 6> kBinary = {"Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
  if (bytes == 0) return "0";
  int unit = -1;
  while (unit + 1 < static_cast<int>(kBinary.size()) && bytes % 1024 == 0) {
    bytes /= 1024;
    ++unit;
  }
  std::string out = std::to_string(bytes);
  if (unit >= 0) out += kBinary[unit];
  return out;
}

}  // namespace hal
