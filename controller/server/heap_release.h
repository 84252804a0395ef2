// heap_release.h - hands memory that large requests freed back to the operating system. A
// request of many megabytes (refused or not; gRPC reads a message whole before it checks its
// size) leaves its freed pages in the allocator's caches, where they count in the controller's
// RSS for good. A background thread releases them: shortly after a large request the controller
// saw, and whenever the allocator holds much more free memory than the controller uses.
#ifndef HAL_CONTROLLER_SERVER_HEAP_RELEASE_H
#define HAL_CONTROLLER_SERVER_HEAP_RELEASE_H

#include <cstddef>

namespace hal::controller {

/** Requests (and answers) at least this large ask for a release. */
inline constexpr size_t kLargeMessageBytes = 1024 * 1024;

/** Releases the allocator's free pages now (tcmalloc's when the program runs on it, else
 *  glibc's malloc_trim). */
void release_free_heap();

/** Releases them about 200 ms from now, so that gRPC has freed the request and answer of the
 *  call that asks; calls meanwhile share one release. */
void release_free_heap_soon();

/** Starts watching the allocator (idempotent): twice a second, when its free pages exceed both
 *  16 MiB and a quarter of the memory in use, they are released. Only under tcmalloc, whose
 *  counters say so cheaply. */
void watch_free_heap();

}  // namespace hal::controller

#endif  // HAL_CONTROLLER_SERVER_HEAP_RELEASE_H
