// QMP wire framing: splitting the byte stream into lines and classifying each JSON message.
// Kept free of I/O so it can be unit-tested and fuzzed on its own.
#ifndef HAL_BACKENDS_KVM_QEMU_QMP_FRAMING_H
#define HAL_BACKENDS_KVM_QEMU_QMP_FRAMING_H

#include <cstddef>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace hal::kvm_qemu {

// Splits a QMP byte stream into lines ("\n" terminated, an optional trailing "\r" stripped,
// empty lines skipped). A line longer than max_line bytes is a protocol error.
class QmpLineFramer {
 public:
  // Creates a framer that rejects lines longer than max_line bytes.
  explicit QmpLineFramer(std::size_t max_line) : max_line_(max_line) {}

  // Appends bytes and calls on_line for every complete line. Returns false (and stops) once a
  // line exceeds max_line; the framer then stays failed.
  bool Feed(std::string_view bytes, const std::function<void(std::string_view)> &on_line);

  // Bytes of the incomplete line held so far.
  std::size_t buffered() const { return buffer_.size(); }

  // True once a line was too long.
  bool failed() const { return failed_; }

 private:
  std::size_t max_line_;
  std::string buffer_;
  bool failed_ = false;
};

// One classified QMP server message.
struct QmpMessage {
  // What the server sent.
  enum class Kind { kGreeting, kReturn, kError, kEvent };
  Kind kind = Kind::kReturn;
  // Command id echoed by the server; only string ids are recognised (we only send strings).
  std::optional<std::string> id;
  // kGreeting: the "QMP" object; kReturn: the "return" value; kEvent: "data" (null if absent).
  nlohmann::json payload;
  // kError: the error "class" and "desc".
  std::string error_class;
  std::string error_desc;
  // kEvent: the event name and its "timestamp" object (null if absent).
  std::string event;
  nlohmann::json timestamp;
};

// Parses and classifies one line. Returns nullopt and sets *error (if given) when the line is not
// valid JSON or not a QMP greeting/return/error/event object. Never throws.
std::optional<QmpMessage> ParseQmpMessage(std::string_view line, std::string *error = nullptr);

// The "id" for QmpClient's command slot n (0, 1, ...): n in base 62 ("0".."9", "a".."z",
// "A".."Z"; 0 -> "0", 62 -> "10"). Short on purpose: QEMU's monitor reads a request one byte
// per read and wakes its main loop per byte (~10 us per byte on a TCG host), so every byte of a
// request is latency. QmpClient reuses the lowest free slot, so ids are usually one character.
std::string QmpCommandId(std::uint64_t n);

// Encodes one command line (with trailing "\n"): {"execute":command,"arguments":args,"id":id};
// "arguments" is omitted when args is null. Throws nlohmann::json::exception only if args holds
// invalid UTF-8.
std::string EncodeQmpCommand(std::string_view command, const nlohmann::json &args,
                             std::string_view id);

}  // namespace hal::kvm_qemu

#endif  // HAL_BACKENDS_KVM_QEMU_QMP_FRAMING_H
