// open_store.cc - builds a Store from a URL ("memory", "sqlite:PATH", "etcd://HOST:PORT,...").
#include <stdexcept>

#include "controller/store/etcd_store.h"
#include "controller/store/memory_store.h"
#include "controller/store/sqlite_store.h"

namespace hal::controller {

std::unique_ptr<Store> open_store(const std::string &url, const StoreOptions &options) {
  if (url == "memory") return std::make_unique<MemoryStore>();
  if (url.rfind("sqlite:", 0) == 0 && url.size() > 7) {
    return std::make_unique<SqliteStore>(url.substr(7));
  }
  if (url.rfind("etcd://", 0) == 0) {
    EtcdStoreOptions etcd = parse_etcd_url(url);
    etcd.client.ca_file = options.etcd_ca_file;
    etcd.client.cert_file = options.etcd_cert_file;
    etcd.client.key_file = options.etcd_key_file;
    return std::make_unique<EtcdStore>(std::move(etcd));
  }
  throw std::invalid_argument("unknown store \"" + url +
                              "\": use \"memory\", \"sqlite:PATH\" or "
                              "\"etcd://HOST:PORT[,HOST:PORT...]\"");
}

}  // namespace hal::controller
