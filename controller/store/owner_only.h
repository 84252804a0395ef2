// owner_only.h - makes the SQLite store's files readable and writable by their owner alone
// (0600): the database, and its -wal and -shm files, which SQLite creates with the database
// file's mode. Done without touching the process umask, which other threads share (issue 25).
#ifndef HAL_CONTROLLER_STORE_OWNER_ONLY_H
#define HAL_CONTROLLER_STORE_OWNER_ONLY_H

#include <string>

namespace hal::controller {

/** Creates the database file `path` with mode 0600 when it does not exist, and sets mode 0600 on
 *  it and on an existing `path`-wal and `path`-shm (an older store may have left them wider).
 *  Never follows a symlink at `path` for the creation. Throws StoreError(kIo) naming the file. */
void make_store_files_owner_only(const std::string &path);

}  // namespace hal::controller

#endif  // HAL_CONTROLLER_STORE_OWNER_ONLY_H
