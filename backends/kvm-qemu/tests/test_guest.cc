// test_guest.cc - implementation of test_guest_dir (see test_guest.h).
#include "backends/kvm-qemu/tests/test_guest.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>

namespace hal::kvm_qemu::testing {

namespace fs = std::filesystem;

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

}  // namespace hal::kvm_qemu::testing
