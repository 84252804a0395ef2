// test_guest.cc - finding the test guest and reading its console log (see test_guest.h).
#include "testing/test_guest.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>
#include <vector>

namespace hal::testing {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// The bytes of `log` from `from` on ("" when unreadable or shorter).
std::string read_from(const fs::path &log, std::uintmax_t from) {
  std::ifstream in(log, std::ios::binary);
  if (!in) return "";
  in.seekg(static_cast<std::streamoff>(from));
  if (!in) return "";
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// `line` without control characters (firmware leaves terminal escapes and carriage returns);
// an escape sequence's ESC goes, its printable rest stays, which is enough to read the line.
std::string printable(std::string_view line) {
  std::string out;
  for (char c : line) {
    if (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f) out += c;
  }
  return out;
}

// The complete lines of `text` (a trailing partial line too: a console may not end in '\n').
std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    lines.push_back(text.substr(0, nl));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return lines;
}

// `duration` in seconds, as short as it reads ("120", "0.3").
std::string seconds_text(std::chrono::milliseconds duration) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3g", static_cast<double>(duration.count()) / 1000.0);
  return text;
}

}  // namespace

std::uintmax_t console_size(const fs::path &log) {
  std::error_code ec;
  const std::uintmax_t size = fs::file_size(log, ec);
  return ec ? 0 : size;
}

std::optional<std::string> wait_for_console_line(const fs::path &log, std::uintmax_t from,
                                                 std::string_view text,
                                                 std::chrono::milliseconds timeout,
                                                 const std::function<std::string()> &gone) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    // Checked before the read, so output written just before the side went away still counts.
    const bool last_look = Clock::now() >= deadline || (gone && !gone().empty());
    const std::string content = read_from(log, from);
    for (std::string_view line : split_lines(content)) {
      if (line.find(text) != std::string_view::npos) return printable(line);
    }
    if (last_look) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

std::string console_tail(const fs::path &log, std::uintmax_t from, int lines) {
  const std::string content = read_from(log, from);  // the lines below point into it
  std::vector<std::string> kept;
  for (std::string_view line : split_lines(content)) {
    std::string shown = printable(line);
    if (!shown.empty()) kept.push_back(std::move(shown));
  }
  if (kept.empty()) return "    (no console output)";
  std::string out;
  const size_t first = kept.size() > static_cast<size_t>(lines) ? kept.size() - lines : 0;
  for (size_t i = first; i < kept.size(); ++i) out += (out.empty() ? "    " : "\n    ") + kept[i];
  return out;
}

std::string require_guest_ready(const std::string &side, const fs::path &log, std::uintmax_t from,
                                std::chrono::milliseconds timeout,
                                const std::function<std::string()> &gone) {
  if (auto line = wait_for_console_line(log, from, kGuestReadyMarker, timeout, gone)) return *line;
  const std::string why = gone ? gone() : std::string();
  throw std::runtime_error(side + ": the guest did not boot: no '" +
                           std::string(kGuestReadyMarker) + "' on its console within " +
                           seconds_text(timeout) + " s" + (why.empty() ? "" : " (" + why + ")") +
                           "; last console lines of " + log.string() + ":\n" +
                           console_tail(log, from));
}

std::string boot_id_of(std::string_view line) {
  const size_t at = line.find("boot_id=");
  if (at == std::string_view::npos) return "";
  std::string_view rest = line.substr(at + 8);
  return std::string(rest.substr(0, rest.find_first_of(" \t\r\n")));
}

std::optional<std::string> test_guest_dir(std::string *why) {
  static std::optional<std::string> cached;
  static std::string cached_why;
  static bool done = false;
  if (!done) {
    done = true;
    if (const char *env = std::getenv("HAL_TEST_GUEST_DIR"); env != nullptr && *env != '\0') {
      cached = env;
    } else {
      std::string command = std::string(HAL_TEST_GUEST_SCRIPT) + " 2>&1";
      FILE *pipe = ::popen(command.c_str(), "r");
      std::string output, last;
      if (pipe != nullptr) {
        char buffer[4096];
        while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) {
          output += buffer;
          last = buffer;
        }
        int status = ::pclose(pipe);
        while (!last.empty() && (last.back() == '\n' || last.back() == '\r')) last.pop_back();
        if (status == 0 && fs::exists(fs::path(last) / "vmlinuz")) {
          cached = last;
        } else {
          cached_why = "scripts/test-guest/build.sh failed: " + output;
        }
      } else {
        cached_why = "cannot run scripts/test-guest/build.sh";
      }
    }
    if (cached && (!fs::exists(fs::path(*cached) / "vmlinuz") ||
                   !fs::exists(fs::path(*cached) / "initrd.img"))) {
      cached_why = "test guest dir " + *cached + " lacks vmlinuz/initrd.img";
      cached.reset();
    }
  }
  if (why != nullptr) *why = cached_why;
  return cached;
}

}  // namespace hal::testing
