// call_trace.h - the plugin calls of a clause process as its supervisor sees them: the clause
// process appends one line per call start ("B <id> <entry>") and end ("E <id>") to a trace file;
// the supervisor reads the file as it grows and knows which entries are in flight and since
// when, to name the entry a crash or hang happened in.
#ifndef HAL_CONFORMANCE_CALL_TRACE_H
#define HAL_CONFORMANCE_CALL_TRACE_H

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "core/plugin/call_observer.h"

namespace hal::conformance {

/** Writes the trace of this process's plugin calls to a file (installed as the observer). */
class CallTraceWriter : public PluginCallObserver {
 public:
  /** Appends to `path` (created 0600). Throws std::system_error when it cannot be opened. */
  explicit CallTraceWriter(const std::filesystem::path &path);
  ~CallTraceWriter() override;
  CallTraceWriter(const CallTraceWriter &) = delete;
  CallTraceWriter &operator=(const CallTraceWriter &) = delete;

  void call_started(std::string_view entry, uint64_t id) noexcept override;
  void call_ended(uint64_t id) noexcept override;

 private:
  int fd_;
};

/** A call in flight as the supervisor saw it. */
struct InFlightCall {
  std::string entry;                            ///< e.g. "vm_shutdown".
  std::chrono::steady_clock::time_point since;  ///< When its start line was read.
};

/** Reads a trace file as it grows. */
class CallTraceReader {
 public:
  /** Reads `path` (which may not exist yet). */
  explicit CallTraceReader(std::filesystem::path path) : path_(std::move(path)) {}

  /** Reads the lines added since the last poll. */
  void poll();
  /** The longest-running call in flight, if any. */
  std::optional<InFlightCall> oldest() const;
  /** Number of calls in flight. */
  std::size_t in_flight() const { return calls_.size(); }

 private:
  std::filesystem::path path_;
  std::uintmax_t offset_ = 0;
  std::string partial_;                     // an incomplete last line
  std::map<uint64_t, InFlightCall> calls_;  // id → call
};

}  // namespace hal::conformance

#endif  // HAL_CONFORMANCE_CALL_TRACE_H
