// image_catalog.h - the controller's image catalogue: image names (containerDisk.image,
// kernelBoot.container.image) mapped to local directories or files, from `--image NAME=DIR`,
// with "hal/test-guest" defaulting to $HAL_TEST_GUEST_DIR. Feeds TranslationContext.
#ifndef HAL_CONTROLLER_SERVER_IMAGE_CATALOG_H
#define HAL_CONTROLLER_SERVER_IMAGE_CATALOG_H

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "controller/api/kubevirt_api.h"

namespace hal::controller {

/** Image name → local path. */
class ImageCatalog {
 public:
  /** A catalogue from "NAME=DIR" entries; "hal/test-guest" is added from `test_guest_dir`
   *  (normally $HAL_TEST_GUEST_DIR) unless an entry names it. Throws std::invalid_argument for
   *  an entry without '='. */
  ImageCatalog(const std::vector<std::string> &entries, const std::string &test_guest_dir);
  /** The path of `image`, or nullopt. A ":tag" suffix is ignored when the tagged name is not
   *  listed. */
  std::optional<std::string> resolve(std::string_view image) const;
  /** A resolver bound to this catalogue (which must outlive it). */
  ImageResolver resolver() const;
  /** All entries. */
  const std::map<std::string, std::string> &entries() const { return images_; }

 private:
  std::map<std::string, std::string> images_;
};

}  // namespace hal::controller

#endif  // HAL_CONTROLLER_SERVER_IMAGE_CATALOG_H
