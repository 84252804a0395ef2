// bare_qemu.cc - a QEMU started by a test itself (see bare_qemu.h).
#include "testing/bare_qemu.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>

namespace hal::testing {

std::string find_qemu_binary() {
  if (const char *env = std::getenv("HAL_QEMU"); env && *env) return env;
  const char *path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    std::string candidate = dir + "/qemu-system-x86_64";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

BareQemu::BareQemu(const std::string &binary, const std::vector<std::string> &extra_args)
    : qmp_path_((dir_.path() / "qmp.sock").string()) {
  std::vector<std::string> argv = {binary, "-qmp", "unix:" + qmp_path_ + ",server=on,wait=off"};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  process_ = std::make_unique<ChildProcess>(std::move(argv),
                                            output_to(dir_.path() / "qemu.log", /*truncate=*/true));
}

BareQemu::~BareQemu() {
  stop();
}

bool BareQemu::wait_for_exit(std::chrono::milliseconds timeout) {
  return process_->wait(timeout).has_value();
}

void BareQemu::stop() {
  if (!process_->running()) return;
  if (process_->signal_and_wait(SIGTERM, std::chrono::seconds(5))) return;
  process_->signal_and_wait(SIGKILL, std::chrono::seconds(5));
}

}  // namespace hal::testing
