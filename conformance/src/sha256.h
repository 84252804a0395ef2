// sha256.h - a small SHA-256 (FIPS 180-4) for the plugin digest in the conformance report
// (OpenSSL is not a dependency).
#ifndef HAL_CONFORMANCE_SHA256_H
#define HAL_CONFORMANCE_SHA256_H

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace hal::conformance {

/** Incremental SHA-256. */
class Sha256 {
 public:
  Sha256();
  /** Adds `size` bytes. */
  void update(const void *data, size_t size);
  /** Finishes and answers the 32-byte digest (the object must not be updated afterwards). */
  std::array<uint8_t, 32> finish();

 private:
  void block(const uint8_t *p);
  std::array<uint32_t, 8> h_;
  std::array<uint8_t, 64> buffer_{};
  size_t buffered_ = 0;
  uint64_t length_ = 0;
};

/** Lower-case hex SHA-256 of `data`. */
std::string sha256_hex(std::string_view data);

/** Lower-case hex SHA-256 of a file's contents; throws std::runtime_error when unreadable. */
std::string sha256_file(const std::filesystem::path &path);

}  // namespace hal::conformance

#endif  // HAL_CONFORMANCE_SHA256_H
