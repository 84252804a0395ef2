// kvm_host.cc - reads /dev/kvm, the KVM vendor module and the CPU's virtualisation flags under a
// root prefix, and turns them into a reason to refuse KVM (see kvm_host.h).
#include "core/host/kvm_host.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace hal {
namespace fs = std::filesystem;

namespace {

// Reads the first x86 "flags" line of <root>/proc/cpuinfo into `facts`.
void read_cpu_flags(const fs::path &root, KvmHostFacts &facts) {
  std::ifstream in(root / "proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (!line.starts_with("flags")) continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    facts.cpu_flags_known = true;
    std::istringstream words(line.substr(colon + 1));
    std::string word;
    while (words >> word) {
      if (word == "vmx" || word == "svm") facts.hardware_virtualisation = true;
    }
    return;  // the first CPU's flags stand for all
  }
}

}  // namespace

KvmHostFacts read_kvm_host_facts(const fs::path &root) {
  KvmHostFacts facts;
  const int fd = ::open((root / "dev/kvm").c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    facts.device_errno = errno;
    facts.device_error = std::string("/dev/kvm: ") + std::strerror(facts.device_errno);
  } else {
    ::close(fd);
  }
  // Only one vendor module can register with kvm; kvm_pvm loads only when no other did, so its
  // presence means it provides /dev/kvm even if a built-in kvm_intel shows up beside it.
  std::error_code ec;
  for (const char *module : {"kvm_pvm", "kvm_intel", "kvm_amd"}) {
    if (fs::exists(root / "sys/module" / module, ec)) {
      facts.vendor_module = module;
      break;
    }
  }
  read_cpu_flags(root, facts);
  return facts;
}

std::string kvm_host_refusal(const KvmHostFacts &facts) {
  if (!facts.device_error.empty()) return facts.device_error;
  if (facts.vendor_module == "kvm_pvm") {
    return "/dev/kvm is kvm-pvm, which runs only PVM guest kernels";
  }
  if (facts.cpu_flags_known && !facts.hardware_virtualisation) {
    return "/dev/kvm is provided by " +
           (facts.vendor_module.empty() ? std::string("an unknown module") : facts.vendor_module) +
           " but the CPU has no vmx or svm flag: not hardware KVM, stock guest kernels may not run";
  }
  return "";
}

}  // namespace hal
