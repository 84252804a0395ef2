// host.hpp - header-only C++ helpers for HOSTS of HAL plugins: status names, the hal::Error
// exception, turning a (hal_status, hal_error) pair into an exception, an initialised hal_error
// buffer, and an owned plugin string freed through the plugin's free_string.
#ifndef HAL_HOST_HPP
#define HAL_HOST_HPP

#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "hal/hal.h"

namespace hal {

/** The canonical name of a status ("OK", "INVALID_ARGUMENT", ...); values outside the known
 *  set answer "UNKNOWN_STATUS". */
constexpr std::string_view status_name(hal_status status) noexcept {
  switch (status) {
    case HAL_OK:
      return "OK";
    case HAL_CANCELLED:
      return "CANCELLED";
    case HAL_UNKNOWN:
      return "UNKNOWN";
    case HAL_INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case HAL_DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case HAL_NOT_FOUND:
      return "NOT_FOUND";
    case HAL_ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case HAL_PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case HAL_RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case HAL_FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case HAL_ABORTED:
      return "ABORTED";
    case HAL_OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case HAL_UNSUPPORTED:
      return "UNSUPPORTED";
    case HAL_INTERNAL:
      return "INTERNAL";
    case HAL_UNAVAILABLE:
      return "UNAVAILABLE";
    case HAL_DATA_LOSS:
      return "DATA_LOSS";
    case HAL_UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "UNKNOWN_STATUS";
  }
}

/** An error from a plugin or from the host side of the ABI: a status plus a readable message.
 *  what() is the message alone; status() carries the code. */
class Error : public std::runtime_error {
 public:
  /** Builds an error with `status` (never HAL_OK in practice) and a one-line `message`. */
  Error(hal_status status, const std::string &message)
      : std::runtime_error(message), status_(status) {}

  /** The HAL status code. */
  hal_status status() const noexcept { return status_; }

 private:
  hal_status status_;
};

/** A hal_error ready to pass to an entry: struct_size set, message empty. Cheap to construct
 *  (does not clear the whole message buffer). */
class ErrorBuffer {
 public:
  ErrorBuffer() noexcept {
    error_.struct_size = sizeof(hal_error);
    error_.reserved = 0;
    error_.message[0] = '\0';
  }
  ErrorBuffer(const ErrorBuffer &) = delete;
  ErrorBuffer &operator=(const ErrorBuffer &) = delete;

  /** Pointer to pass as the `hal_error *error` argument. */
  hal_error *get() noexcept { return &error_; }
  /** The underlying struct. */
  const hal_error &raw() const noexcept { return error_; }
  /** The message, bounded by the buffer even if a buggy plugin left it unterminated. */
  std::string_view message() const noexcept {
    return std::string_view(error_.message, strnlen(error_.message, HAL_ERROR_MESSAGE_SIZE));
  }
  /** Writes `text` (truncated) into the buffer, as a plugin would. */
  void set(std::string_view text) noexcept { write(&error_, text); }

  /** Writes `text` into any caller-provided hal_error (NULL is a no-op), truncated, NUL-ended. */
  static void write(hal_error *error, std::string_view text) noexcept {
    if (error == nullptr) return;
    size_t n = text.size() < HAL_ERROR_MESSAGE_SIZE - 1 ? text.size() : HAL_ERROR_MESSAGE_SIZE - 1;
    std::memcpy(error->message, text.data(), n);
    error->message[n] = '\0';
  }

 private:
  hal_error error_;
};

/** Throws hal::Error when `status` is not HAL_OK. The message is "<what>: <plugin message>"
 *  (or "<what>: <STATUS_NAME>" when the plugin left the message empty). */
inline void check(hal_status status, const hal_error &error, std::string_view what) {
  if (status == HAL_OK) return;
  std::string_view msg(error.message, strnlen(error.message, HAL_ERROR_MESSAGE_SIZE));
  std::string text(what);
  text += ": ";
  if (msg.empty()) {
    text += status_name(status);
  } else {
    text += msg;
  }
  throw Error(status, text);
}

/** Overload for an ErrorBuffer. */
inline void check(hal_status status, const ErrorBuffer &error, std::string_view what) {
  check(status, error.raw(), what);
}

/** A string allocated by a plugin, freed through that plugin's free_string on destruction.
 *  Move-only. A throwing free_string (buggy C++ plugin) is swallowed: destructors never throw. */
class OwnedString {
 public:
  /** The plugin's free_string. */
  using FreeFn = void (*)(char *);

  /** An empty string that will be freed with `free_fn` once filled through out(). */
  explicit OwnedString(FreeFn free_fn = nullptr) noexcept : free_(free_fn) {}
  /** Takes ownership of `p`, to be freed with `free_fn`. */
  OwnedString(char *p, FreeFn free_fn) noexcept : p_(p), free_(free_fn) {}
  OwnedString(OwnedString &&o) noexcept : p_(std::exchange(o.p_, nullptr)), free_(o.free_) {}
  OwnedString &operator=(OwnedString &&o) noexcept {
    if (this != &o) {
      reset();
      p_ = std::exchange(o.p_, nullptr);
      free_ = o.free_;
    }
    return *this;
  }
  OwnedString(const OwnedString &) = delete;
  OwnedString &operator=(const OwnedString &) = delete;
  ~OwnedString() { reset(); }

  /** Frees the held string (if any). */
  void reset() noexcept {
    if (p_ != nullptr && free_ != nullptr) {
      try {
        free_(p_);
      } catch (...) {  // a C++ plugin threw across the C ABI; nothing sensible to do here
      }
    }
    p_ = nullptr;
  }
  /** Frees the held string and returns the slot to pass as a `char **out_*` argument. */
  char **out() noexcept {
    reset();
    return &p_;
  }
  /** The raw pointer (may be NULL). */
  const char *get() const noexcept { return p_; }
  /** True when a string is held. */
  explicit operator bool() const noexcept { return p_ != nullptr; }
  /** The contents ("" when NULL). */
  std::string_view view() const noexcept { return p_ ? std::string_view(p_) : std::string_view(); }
  /** A copy of the contents. */
  std::string str() const { return std::string(view()); }

 private:
  char *p_ = nullptr;
  FreeFn free_ = nullptr;
};

}  // namespace hal

#endif  // HAL_HOST_HPP
