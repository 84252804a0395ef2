// backend_accelerator.cc - the kvm-qemu plugin's accelerator decision (see backend_accelerator.h).
#include "controller/bench/backend_accelerator.h"

#include <stdexcept>

#include "core/plugin/backend.h"
#include "core/plugin/plugin.h"

namespace hal::bench {

AcceleratorChoice backend_accelerator(const std::filesystem::path &plugin,
                                      std::string_view requested,
                                      const std::filesystem::path &scratch_dir) {
  if (requested != "auto" && requested != "kvm" && requested != "tcg") {
    throw std::invalid_argument("--accelerator must be auto, kvm or tcg, not '" +
                                std::string(requested) + "'");
  }
  const std::filesystem::path state_dir = scratch_dir / "accelerator";
  std::filesystem::create_directories(state_dir);
  Backend backend = Backend::open(Plugin::load(plugin), {{"accelerator", std::string(requested)},
                                                         {"stateDir", state_dir.string()}});
  const nlohmann::json capabilities = backend.capabilities();
  AcceleratorChoice choice{capabilities.value("accelerator", ""),
                           capabilities.value("acceleratorReason", "")};
  if (requested != "auto") choice.reason = "--accelerator " + std::string(requested);
  return choice;
}

std::string accelerator_line(const AcceleratorChoice &choice) {
  return "accelerator: " + choice.accelerator + " (" + choice.reason + ")";
}

}  // namespace hal::bench
