// bench_accelerator.cc - a benchmark's accelerator decision (see bench_accelerator.h).
#include "backends/kvm-qemu/bench/bench_accelerator.h"

#include <stdexcept>

namespace hal::kvm_qemu::bench {

AcceleratorChoice bench_accelerator(std::string_view requested,
                                    const std::filesystem::path &scratch_dir) {
  if (requested != "auto" && requested != "kvm" && requested != "tcg") {
    throw std::invalid_argument("--accelerator must be auto, kvm or tcg, not '" +
                                std::string(requested) + "'");
  }
  AcceleratorChoice choice = choose_accelerator(
      requested, [&] { return kvm_refusal("qemu-system-x86_64", scratch_dir, "/"); });
  if (requested != "auto") choice.reason = "--accelerator " + std::string(requested);
  return choice;
}

std::string accelerator_line(const AcceleratorChoice &choice) {
  return "accelerator: " + choice.accelerator + " (" + choice.reason + ")";
}

}  // namespace hal::kvm_qemu::bench
