// image_catalog.cc - image name resolution.
#include "controller/server/image_catalog.h"

#include <stdexcept>

namespace hal::controller {

ImageCatalog::ImageCatalog(const std::vector<std::string> &entries,
                           const std::string &test_guest_dir) {
  for (const std::string &entry : entries) {
    auto equals = entry.find('=');
    if (equals == std::string::npos || equals == 0 || equals + 1 == entry.size()) {
      throw std::invalid_argument("--image \"" + entry + "\": expected NAME=DIR");
    }
    images_[entry.substr(0, equals)] = entry.substr(equals + 1);
  }
  if (!test_guest_dir.empty() && images_.count("hal/test-guest") == 0) {
    images_["hal/test-guest"] = test_guest_dir;
  }
}

std::optional<std::string> ImageCatalog::resolve(std::string_view image) const {
  if (auto it = images_.find(std::string(image)); it != images_.end()) return it->second;
  auto colon = image.rfind(':');
  auto slash = image.rfind('/');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    if (auto it = images_.find(std::string(image.substr(0, colon))); it != images_.end()) {
      return it->second;
    }
  }
  return std::nullopt;
}

ImageResolver ImageCatalog::resolver() const {
  return [this](std::string_view image) { return resolve(image); };
}

}  // namespace hal::controller
