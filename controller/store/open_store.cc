// open_store.cc - builds a Store from a URL ("memory", "sqlite:PATH").
#include <stdexcept>

#include "controller/store/memory_store.h"
#include "controller/store/sqlite_store.h"

namespace hal::controller {

std::unique_ptr<Store> open_store(const std::string &url) {
  if (url == "memory") return std::make_unique<MemoryStore>();
  if (url.rfind("sqlite:", 0) == 0 && url.size() > 7) {
    return std::make_unique<SqliteStore>(url.substr(7));
  }
  throw std::invalid_argument("unknown store \"" + url +
                              "\": use \"memory\" or \"sqlite:PATH\" (etcd is not available)");
}

}  // namespace hal::controller
