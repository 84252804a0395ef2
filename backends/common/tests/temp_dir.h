// temp_dir.h - a fresh directory under /tmp for one test, removed with everything in it at the
// end; shared by the toolkit's tests.
#ifndef HAL_BACKENDS_COMMON_TESTS_TEMP_DIR_H
#define HAL_BACKENDS_COMMON_TESTS_TEMP_DIR_H

#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>

namespace hal::backend_common::testing {

/** A new empty directory /tmp/hal-common-XXXXXX, removed by the destructor. */
class TempDir {
 public:
  /** Creates the directory; throws std::runtime_error when it cannot. */
  TempDir() {
    std::string dir_template = "/tmp/hal-common-XXXXXX";
    if (::mkdtemp(dir_template.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = dir_template;
  }
  /** Removes the directory and its content. */
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir &) = delete;
  TempDir &operator=(const TempDir &) = delete;

  /** The directory. */
  const std::filesystem::path &path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace hal::backend_common::testing

#endif  // HAL_BACKENDS_COMMON_TESTS_TEMP_DIR_H
