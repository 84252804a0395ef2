// temp_dir.h - a fresh directory under /tmp for one test, removed with everything in it at the
// end; the one temporary-directory helper of every test and benchmark in the tree.
#ifndef HAL_TESTING_TEMP_DIR_H
#define HAL_TESTING_TEMP_DIR_H

#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>

namespace hal::testing {

/** A new empty directory /tmp/<prefix>XXXXXX, removed (recursively) by the destructor. */
class TempDir {
 public:
  /** Creates the directory; throws std::runtime_error when it cannot. */
  explicit TempDir(const std::string &prefix = "hal-test-") {
    std::string dir_template = "/tmp/" + prefix + "XXXXXX";
    if (::mkdtemp(dir_template.data()) == nullptr) {
      throw std::runtime_error("mkdtemp " + dir_template + " failed");
    }
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
  /** The directory as a string. */
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace hal::testing

#endif  // HAL_TESTING_TEMP_DIR_H
