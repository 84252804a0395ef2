// main.cc - hal-ch-emulator: a drop-in stand-in for the cloud-hypervisor binary that serves the
// published REST API contract on --api-socket and writes --event-monitor events, for testing the
// backend on hosts without KVM. Accepts the argv subset the backend uses:
//   --api-socket [path=]PATH  --event-monitor path=PATH  -v...  --version  --log-file PATH
// Features announced in vmm.ping come from $HAL_CH_EMULATOR_FEATURES (comma-separated, e.g.
// "tdx"), the release it behaves as from $HAL_CH_EMULATOR_VERSION ("52.0.0", "v48.0"; default
// the newest it emulates, kDefaultRelease); the emulator's own options are never needed on the
// command line.
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "backends/cloud-hypervisor/emulator/api_server.h"
#include "backends/cloud-hypervisor/emulator/vmm.h"

namespace {
using hal::cloud_hypervisor::ChVersion;

// The release emulated unless $HAL_CH_EMULATOR_VERSION says otherwise.
constexpr ChVersion kDefaultRelease{53, 0};

std::string api_socket_path;

void cleanup_and_exit(int code) {
  if (!api_socket_path.empty()) ::unlink(api_socket_path.c_str());
  std::_Exit(code);
}

void on_signal(int) {
  cleanup_and_exit(0);
}

// "path=/x" or "/x" (the first comma-separated key=value named path).
std::string path_option(const std::string &value) {
  std::stringstream in(value);
  std::string part;
  while (std::getline(in, part, ',')) {
    if (part.rfind("path=", 0) == 0) return part.substr(5);
    if (part.find('=') == std::string::npos) return part;
  }
  return {};
}

int usage(const std::string &problem) {
  std::cerr << "hal-ch-emulator: " << problem
            << "\nusage: hal-ch-emulator --api-socket path=PATH [--event-monitor path=PATH] [-v]\n";
  return 1;
}
}  // namespace

int main(int argc, char **argv) {
  ChVersion release = kDefaultRelease;
  if (const char *env = std::getenv("HAL_CH_EMULATOR_VERSION"); env != nullptr && *env != 0) {
    auto parsed = hal::cloud_hypervisor::parse_ch_version(env);
    if (!parsed) return usage(std::string("bad HAL_CH_EMULATOR_VERSION '") + env + "'");
    release = *parsed;
  }
  std::string event_path;
  bool verbose = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : std::string(); };
    if (arg == "--api-socket") {
      api_socket_path = path_option(value());
    } else if (arg == "--event-monitor") {
      event_path = path_option(value());
    } else if (arg == "--log-file") {
      value();
    } else if (arg == "-v" || arg == "-vv" || arg == "-vvv") {
      verbose = true;
    } else if (arg == "--version" || arg == "-V") {
      std::cout << "cloud-hypervisor " << hal::ch_emulator::emulator_build_version(release) << "\n";
      return 0;
    } else {
      return usage("unknown argument '" + arg + "'");
    }
  }
  if (api_socket_path.empty()) return usage("--api-socket path=PATH is required");
  std::set<std::string> features;
  if (const char *env = std::getenv("HAL_CH_EMULATOR_FEATURES")) {
    std::stringstream in(env);
    std::string f;
    while (std::getline(in, f, ',')) {
      if (!f.empty()) features.insert(f);
    }
  }
  ::signal(SIGPIPE, SIG_IGN);
  ::signal(SIGTERM, on_signal);
  ::signal(SIGINT, on_signal);
  try {
    // Exit a moment later so the reply to the request that caused it is written first.
    hal::ch_emulator::Vmm vmm(release, event_path, features, [] {
      std::thread([] {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        cleanup_and_exit(0);
      }).detach();
    });
    hal::ch_emulator::serve_api(api_socket_path, vmm, verbose);
  } catch (const std::exception &e) {
    std::cerr << "hal-ch-emulator: " << e.what() << "\n";
    cleanup_and_exit(1);
  }
  return 0;
}
