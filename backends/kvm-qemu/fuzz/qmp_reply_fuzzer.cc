// libFuzzer target for the QMP reply path: the line framer feeding the message parser.
// The first input byte picks the chunk size so that line reassembly is exercised too.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "backends/kvm-qemu/qmp_framing.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  if (size == 0) return 0;
  std::size_t chunk = 1 + data[0] % 64;
  std::string_view input(reinterpret_cast<const char *>(data + 1), size - 1);
  hal::kvm_qemu::QmpLineFramer framer(4096);
  while (!input.empty()) {
    std::string_view piece = input.substr(0, chunk);
    input.remove_prefix(piece.size());
    bool ok = framer.Feed(piece, [](std::string_view line) {
      std::string error;
      auto msg = hal::kvm_qemu::ParseQmpMessage(line, &error);
      if (msg && msg->kind == hal::kvm_qemu::QmpMessage::Kind::kReturn) {
        (void)msg->payload.size();
      }
    });
    if (!ok) break;
  }
  return 0;
}
