// guest_console.cc - the console log of a kvm-qemu VM (see guest_console.h).
#include "backends/kvm-qemu/bench/guest_console.h"

#include <nlohmann/json.hpp>
#include <stdexcept>

namespace hal::kvm_qemu::bench {

namespace fs = std::filesystem;

fs::path backend_console_log(hal::plugin::Vm &vm, const std::string &side) {
  const nlohmann::json info = nlohmann::json::parse(vm.info());
  const std::string socket = info.value("console", nlohmann::json::object()).value("path", "");
  if (socket.empty()) throw std::runtime_error(side + ": VM info names no console: " + info.dump());
  return fs::path(socket).parent_path() / "console.log";
}

}  // namespace hal::kvm_qemu::bench
