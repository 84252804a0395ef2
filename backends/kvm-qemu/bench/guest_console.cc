// guest_console.cc - reading the test guest's console log (see guest_console.h).
#include "backends/kvm-qemu/bench/guest_console.h"

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <thread>
#include <vector>

namespace hal::kvm_qemu::bench {

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

fs::path backend_console_log(hal::plugin::Vm &vm, const std::string &side) {
  const nlohmann::json info = nlohmann::json::parse(vm.info());
  const std::string socket = info.value("console", nlohmann::json::object()).value("path", "");
  if (socket.empty()) throw std::runtime_error(side + ": VM info names no console: " + info.dump());
  return fs::path(socket).parent_path() / "console.log";
}

std::string boot_id_of(std::string_view line) {
  const size_t at = line.find("boot_id=");
  if (at == std::string_view::npos) return "";
  std::string_view rest = line.substr(at + 8);
  return std::string(rest.substr(0, rest.find_first_of(" \t\r\n")));
}

}  // namespace hal::kvm_qemu::bench
