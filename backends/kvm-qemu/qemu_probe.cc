// qemu_probe.cc - QEMU feature probe (query-qmp-schema), KVM and host TDX detection.
#include "backends/kvm-qemu/qemu_probe.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

#include "backends/common/resolve_binary.h"
#include "backends/common/state_files.h"
#include "backends/common/supervised_process.h"
#include "backends/kvm-qemu/command_line.h"
#include "backends/kvm-qemu/qmp_client.h"
#include "core/host/host_topology.h"

namespace hal::kvm_qemu {
namespace fs = std::filesystem;
using backend_common::read_tail;
using backend_common::SupervisedProcess;

namespace {

// Makes a fresh "probe-XXXXXX" directory under `scratch_dir`; on failure returns "" and sets
// `error`.
fs::path make_probe_dir(const fs::path &scratch_dir, std::string &error) {
  std::error_code ec;
  fs::create_directories(scratch_dir, ec);
  std::string dir_template = (scratch_dir / "probe-XXXXXX").string();
  if (::mkdtemp(dir_template.data()) == nullptr) {
    error = "mkdtemp under " + scratch_dir.string() + ": " + std::strerror(errno);
    return {};
  }
  return dir_template;
}

// The cache key of a QEMU binary: its resolved path, or the name as given.
std::string binary_key(const std::string &binary) {
  std::string key = backend_common::resolve_binary(binary);
  return key.empty() ? binary : key;
}

// Runs the probe itself (uncached).
QemuFeatures run_probe(const std::string &binary, const fs::path &scratch_dir) {
  QemuFeatures features;
  const fs::path dir = make_probe_dir(scratch_dir, features.error);
  if (dir.empty()) return features;
  std::error_code ec;
  const fs::path socket = dir / "qmp.sock";
  std::vector<std::string> argv = {
      binary,
      "-machine",
      "none,accel=tcg",
      "-nodefaults",
      "-no-user-config",
      "-display",
      "none",
      "-chardev",
      "socket,id=qmp,path=" + escape_option_value(socket.string()) + ",server=on,wait=off",
      "-mon",
      "chardev=qmp,mode=control"};
  try {
    auto process = SupervisedProcess::spawn(argv, dir / "stderr.log", dir / "qemu.pid", nullptr);
    try {
      // A binary that exits at once (not QEMU, or QEMU refusing its options) fails the probe
      // now rather than after the connect timeout.
      if (process->wait_for_path(socket, std::chrono::seconds(10)) ==
          backend_common::PathWait::kExited) {
        throw std::runtime_error("exited before creating its QMP socket");
      }
      QmpClient::Options options;
      options.connect_timeout = std::chrono::seconds(10);
      auto qmp = QmpClient::connect(socket.string(), options);
      features.version = qmp->qemu_version();
      nlohmann::json schema = qmp->execute("query-qmp-schema", nullptr, std::chrono::seconds(20));
      features.tdx_guest = schema.dump().find("\"tdx-guest\"") != std::string::npos;
      nlohmann::json machines = qmp->execute("query-machines", nullptr, std::chrono::seconds(20));
      for (const auto &machine : machines.is_array() ? machines : nlohmann::json::array()) {
        const std::string name = machine.value("name", "");
        const std::string alias = machine.value("alias", "");
        if (!name.empty()) features.machines.insert(name);
        if (!alias.empty()) features.machines.insert(alias);
        if (alias == "q35") features.q35_machine = name;
      }
      try {
        qmp->execute("quit", nullptr, std::chrono::seconds(2));
      } catch (const std::exception &) {
      }
    } catch (const std::exception &e) {
      features.error = std::string("probing ") + binary + ": " + e.what() + " " +
                       read_tail(dir / "stderr.log", 400);
    }
    process->kill_after(std::chrono::seconds(3));
  } catch (const std::exception &e) {
    features.error = std::string("probing ") + binary + ": " + e.what();
  }
  fs::remove_all(dir, ec);
  return features;
}

}  // namespace

// SeaBIOS writes its log to I/O port 0x402. /dev/kvm can open and still be unable to run a
// guest: on a paravirtual KVM (kvm-pvm) QEMU aborts setting an MSR that `-cpu host` asks for.
std::string kvm_guest_probe(const std::string &binary, const fs::path &scratch_dir) {
  std::string error;
  const fs::path dir = make_probe_dir(scratch_dir, error);
  if (dir.empty()) return error;
  const fs::path firmware_log = dir / "firmware.log";
  VmSpec defaults;
  const std::vector<std::string> argv = {
      binary,
      "-machine",
      "q35,accel=kvm",
      "-cpu",
      cpu_model_for(defaults, "kvm"),
      "-m",
      "16",
      "-nodefaults",
      "-no-user-config",
      "-display",
      "none",
      "-chardev",
      "file,id=firmware,path=" + escape_option_value(firmware_log.string()),
      "-device",
      "isa-debugcon,iobase=0x402,chardev=firmware"};
  std::string reason = "QEMU under KVM ran no firmware code within 10 s";
  try {
    auto process = SupervisedProcess::spawn(argv, dir / "stderr.log", dir / "qemu.pid", nullptr);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      std::error_code ec;
      if (fs::file_size(firmware_log, ec) > 0 && !ec) {
        reason.clear();
        break;
      }
      if (process->wait_exit(std::chrono::milliseconds(20))) {
        reason = "QEMU under KVM exited before running firmware code: " +
                 read_tail(dir / "stderr.log", 300);
        break;
      }
    }
    process->send_signal(SIGKILL);
    process->kill_after(std::chrono::seconds(3));
  } catch (const std::exception &e) {
    reason = std::string("running ") + binary + " under KVM: " + e.what();
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  return reason;
}

QemuFeatures probe_qemu(const std::string &binary, const fs::path &scratch_dir) {
  static std::mutex mutex;
  static std::map<std::string, QemuFeatures> cache;
  std::lock_guard<std::mutex> lock(mutex);
  const std::string key = binary_key(binary);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  QemuFeatures features = run_probe(binary, scratch_dir);
  if (features.error.empty()) cache.emplace(key, features);
  return features;
}

std::string cached_kvm_guest_probe(const std::string &binary, const fs::path &scratch_dir) {
  static std::mutex mutex;
  static std::map<std::string, std::string> cache;
  std::lock_guard<std::mutex> lock(mutex);
  const std::string key = binary_key(binary);
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, kvm_guest_probe(binary, scratch_dir)).first;
  return it->second;
}

std::string host_tdx_missing(const fs::path &host_root) {
  TdxSupport support = detect_tdx(host_root);
  if (support.supported) return "";
  return support.reason.empty() ? "host does not support TDX" : support.reason;
}

std::string tdx_missing(const fs::path &host_root, const std::string &accelerator,
                        const QemuFeatures &qemu) {
  std::vector<std::string> missing;
  if (std::string host = host_tdx_missing(host_root); !host.empty()) missing.push_back(host);
  if (accelerator != "kvm")
    missing.push_back("TDX needs KVM but the accelerator is " + accelerator);
  if (!qemu.error.empty()) {
    missing.push_back("QEMU could not be probed (" + qemu.error + ")");
  } else if (!qemu.tdx_guest) {
    missing.push_back("QEMU " + qemu.version + " has no tdx-guest object (needs >= 10.1)");
  }
  if (missing.empty()) return "";
  std::string out = "TDX: ";
  for (size_t i = 0; i < missing.size(); ++i) out += (i ? "; " : "") + missing[i];
  return out;
}

bool qemu_at_least(const std::string &version, int major, int minor) {
  int have_major = 0, have_minor = 0;
  if (std::sscanf(version.c_str(), "%d.%d", &have_major, &have_minor) != 2) return false;
  return have_major > major || (have_major == major && have_minor >= minor);
}

}  // namespace hal::kvm_qemu
