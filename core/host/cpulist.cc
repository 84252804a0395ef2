// cpulist.cc - parsing and formatting of Linux cpulists.
#include "core/host/cpulist.h"

#include <algorithm>

namespace hal {
namespace {

constexpr uint32_t kMaxCpuId = (1u << 20) - 1;

std::string_view trim(std::string_view s) {
  const auto space = [](char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

// Parses a whole decimal id; nullopt for empty, non-digits or > kMaxCpuId.
std::optional<uint32_t> parse_id(std::string_view s) {
  if (s.empty()) return std::nullopt;
  uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint32_t>(c - '0');
    if (v > kMaxCpuId) return std::nullopt;
  }
  return v;
}

}  // namespace

std::optional<std::vector<uint32_t>> parse_cpulist(std::string_view text) {
  text = trim(text);
  std::vector<uint32_t> ids;
  if (text.empty()) return ids;
  while (true) {
    const size_t comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    const size_t dash = item.find('-');
    const auto first = parse_id(item.substr(0, dash));
    if (!first) return std::nullopt;
    uint32_t last = *first;
    if (dash != std::string_view::npos) {
      const auto end = parse_id(item.substr(dash + 1));
      if (!end || *end < *first) return std::nullopt;
      last = *end;
    }
    for (uint32_t id = *first; id <= last; ++id) ids.push_back(id);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

std::string format_cpulist(std::vector<uint32_t> ids) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  std::string out;
  for (size_t i = 0; i < ids.size();) {
    size_t j = i;
    while (j + 1 < ids.size() && ids[j + 1] == ids[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(ids[i]);
    if (j > i) out += '-' + std::to_string(ids[j]);
    i = j + 1;
  }
  return out;
}

}  // namespace hal
