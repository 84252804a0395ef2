// capabilities.cc - binary probe and TDX detection (see capabilities.h).
#include "backends/cloud-hypervisor/capabilities.h"

#include <signal.h>

#include "backends/cloud-hypervisor/rest_client.h"
#include "backends/cloud-hypervisor/vm_state_dir.h"
#include "backends/cloud-hypervisor/vmm_argv.h"
#include "backends/common/state_files.h"
#include "backends/common/supervised_process.h"
#include "core/host/host_topology.h"

namespace hal::cloud_hypervisor {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

BinaryProbe probe_binary(const std::string &binary, const fs::path &scratch_dir) {
  BinaryProbe probe;
  const VmStateDir dir(scratch_dir);
  try {
    dir.create();
    std::unique_ptr<backend_common::SupervisedProcess> process =
        backend_common::SupervisedProcess::spawn(vmm_argv(binary, dir, false), dir.stderr_log(),
                                                 dir.pidfile(), nullptr);
    ChApiClient api(dir.api_socket().string());
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    if (auto ping = api.ping_until_served(
            [&] { return process->exited() || std::chrono::steady_clock::now() >= deadline; })) {
      probe.ok = true;
      const std::string build = ping->value("build_version", "");
      probe.version = ping->value("version", "");
      if (probe.version.empty()) probe.version = build;
      probe.release = parse_ch_version(probe.version, build).value_or(ChVersion{});
      probe.emulated = build.find("hal-ch-emulator") != std::string::npos;
      for (const auto &f : ping->value("features", nlohmann::json::array())) {
        if (f.is_string()) probe.features.insert(f.get<std::string>());
      }
    }
    if (!probe.ok) {
      probe.error = "the binary '" + binary +
                    "' did not serve its API: " + backend_common::read_tail(dir.stderr_log(), 300);
    }
    process->send_signal(SIGKILL);
    process->wait_exit(5s);
  } catch (const std::exception &e) {
    probe.error = "cannot run '" + binary + "': " + e.what();
  }
  dir.remove();
  return probe;
}

std::string unsupported_binary(const BinaryProbe &probe) {
  if (probe.release == ChVersion{}) {
    return "cloud-hypervisor: vmm.ping reports no version number ('" + probe.version +
           "'); the backend needs " + kOldestSupported.str() + " or later";
  }
  if (probe.release < kOldestSupported) {
    return "cloud-hypervisor " + probe.release.str() + " is older than " + kOldestSupported.str() +
           ", the oldest release this backend supports";
  }
  return "";
}

std::string accelerator_of(const BinaryProbe &probe) {
  return probe.emulated ? "emulated" : "kvm";
}

std::string tdx_missing(const fs::path &host_root, const BinaryProbe &probe) {
  std::string missing;
  const TdxSupport host = detect_tdx(host_root);
  if (!host.supported) missing = "host: " + host.reason;
  std::string binary;
  if (!probe.ok) {
    binary = "cloud-hypervisor binary unusable (" + probe.error + ")";
  } else if (!probe.features.count("tdx")) {
    binary = "cloud-hypervisor " + probe.version + " was built without the \"tdx\" feature";
  }
  if (!binary.empty()) missing += (missing.empty() ? "" : "; ") + binary;
  return missing.empty() ? "" : "TDX unavailable: " + missing;
}

}  // namespace hal::cloud_hypervisor
