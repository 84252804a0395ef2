// copy_store.cc - every object of one store into another, empty, one (see copy_store.h).
#include "controller/store/copy_store.h"

namespace hal::controller {

size_t copy_store(const Store &from, Store &to, size_t batch) {
  auto existing = to.list("", "", nullptr);
  if (!existing.empty())
    throw StoreError(StoreErrorCode::kAlreadyExists,
                     "the target store is not empty (it holds " + existing.front().key.str() +
                         " and " + std::to_string(existing.size() - 1) +
                         " more objects); import only into a new store");
  std::vector<StoredObject> objects = from.list("", "", nullptr);
  std::vector<StoreWrite> writes;
  for (size_t i = 0; i < objects.size(); ++i) {
    writes.push_back(StoreWrite{StoreWrite::Op::kCreate, std::move(objects[i].key),
                                std::move(objects[i].object), 0, false});
    if (writes.size() == batch || i + 1 == objects.size()) {
      to.commit(std::move(writes));
      writes.clear();
    }
  }
  return objects.size();
}

}  // namespace hal::controller
