// ch_version.cc - Cloud Hypervisor version parsing (see ch_version.h).
#include "backends/cloud-hypervisor/ch_version.h"

#include <cctype>

namespace hal::cloud_hypervisor {
namespace {
// Reads "<digits>.<digits>" at the start of `text` (after an optional 'v').
std::optional<ChVersion> leading_version(std::string_view text) {
  if (!text.empty() && text.front() == 'v') text.remove_prefix(1);
  auto number = [&](int &out) {
    size_t n = 0;
    out = 0;
    while (n < text.size() && std::isdigit(static_cast<unsigned char>(text[n])) && n < 6) {
      out = out * 10 + (text[n] - '0');
      ++n;
    }
    text.remove_prefix(n);
    return n > 0;
  };
  ChVersion v;
  if (!number(v.major) || text.empty() || text.front() != '.') return std::nullopt;
  text.remove_prefix(1);
  if (!number(v.minor)) return std::nullopt;
  return v;
}
}  // namespace

std::string ChVersion::str() const {
  return "v" + std::to_string(major) + "." + std::to_string(minor);
}

std::optional<ChVersion> parse_ch_version(std::string_view version,
                                          std::string_view build_version) {
  if (auto v = leading_version(version)) return v;
  return leading_version(build_version);
}

}  // namespace hal::cloud_hypervisor
