// test_guest.h - the project's test guest (Debian kernel + busybox initramfs, built by
// scripts/test-guest/build.sh) for tests and benchmarks: where it is, and reading what its init
// prints on the serial console from a console log file ("HAL-GUEST: ready boot_id=<id>
// uptime=<s>", heartbeats). A figure or a check counts only for a guest that booted: a guest hung
// in its firmware or kernel is still "running" to QEMU.
#ifndef HAL_TESTING_TEST_GUEST_H
#define HAL_TESTING_TEST_GUEST_H

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace hal::testing {

/** The test guest dir (vmlinuz, initrd.img): $HAL_TEST_GUEST_DIR, else built (once per program)
 *  by the project script; nullopt (with `why`) when it cannot be built. */
std::optional<std::string> test_guest_dir(std::string *why);

/** What the test guest prints on its console once booted (scripts/test-guest/init). */
inline constexpr std::string_view kGuestReadyMarker = "HAL-GUEST: ready";

/** The size of `log` now, 0 when it does not exist: pass it as `from` below to look only at
 *  what a run appends to a log that earlier runs wrote to. */
std::uintmax_t console_size(const std::filesystem::path &log);

/** Polls `log` (from byte `from` on) until a line contains `text`, for at most `timeout`;
 *  returns that line (control characters removed). Stops early, with nullopt, when `gone`
 *  (optional) answers non-empty: the side can no longer print anything (e.g. QEMU exited). */
std::optional<std::string> wait_for_console_line(const std::filesystem::path &log,
                                                 std::uintmax_t from, std::string_view text,
                                                 std::chrono::milliseconds timeout,
                                                 const std::function<std::string()> &gone = {});

/** The last `lines` lines of `log` after byte `from`, control characters removed, each on its
 *  own line indented by four spaces; "    (no console output)" when there are none. */
std::string console_tail(const std::filesystem::path &log, std::uintmax_t from, int lines = 12);

/** Waits for kGuestReadyMarker as wait_for_console_line does and returns the ready line. When it
 *  does not come, throws std::runtime_error: "<side>: the guest did not boot: no 'HAL-GUEST:
 *  ready' on its console within N s[ (<gone>)]; last console lines of <log>:" + console_tail. */
std::string require_guest_ready(const std::string &side, const std::filesystem::path &log,
                                std::uintmax_t from, std::chrono::milliseconds timeout,
                                const std::function<std::string()> &gone = {});

/** The value of "boot_id=" in a console line ("" when it has none). */
std::string boot_id_of(std::string_view line);

}  // namespace hal::testing

#endif  // HAL_TESTING_TEST_GUEST_H
