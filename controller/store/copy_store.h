// copy_store.h - copies every object of one store into another, empty, one: how an installation
// moves from its embedded SQLite file to etcd (hal-controller --import-store). Objects keep
// their content; their resource versions become the target's (clients list again).
#ifndef HAL_CONTROLLER_STORE_COPY_STORE_H
#define HAL_CONTROLLER_STORE_COPY_STORE_H

#include <cstddef>

#include "controller/store/store.h"

namespace hal::controller {

/** Copies every object of `from` into `to`, `batch` objects per transaction (creates, so an
 *  object written meanwhile is not overwritten); returns how many. Throws
 *  StoreError(kAlreadyExists) naming an object when `to` is not empty. */
size_t copy_store(const Store &from, Store &to, size_t batch = 100);

}  // namespace hal::controller

#endif  // HAL_CONTROLLER_STORE_COPY_STORE_H
