// heap_release.cc - free heap pages back to the system (see heap_release.h).
#include "controller/server/heap_release.h"

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

// gperftools' C entry points, present when the program is linked with tcmalloc (hal-controller
// is); weak, so that programs on glibc's allocator (in-process tests) link without them.
extern "C" void MallocExtension_ReleaseFreeMemory(void) __attribute__((weak));
extern "C" int MallocExtension_GetNumericProperty(const char *property, size_t *value)
    __attribute__((weak));
// huge_page_heap.cc's, in hal-controller: keeps released ranges from becoming huge pages again.
extern "C" void hal_heap_unadvise_sparse(void) __attribute__((weak));

namespace hal::controller {
namespace {

constexpr std::chrono::milliseconds kDelay{200};   // after a large request
constexpr std::chrono::milliseconds kPeriod{500};  // of the watch
constexpr size_t kFreeFloor = 16 * 1024 * 1024;    // free pages always kept

// Free pages worth releasing: above the floor and a quarter of what is in use.
bool too_much_free() {
  if (MallocExtension_GetNumericProperty == nullptr) return false;
  size_t free = 0, used = 0;
  if (!MallocExtension_GetNumericProperty("tcmalloc.pageheap_free_bytes", &free) ||
      !MallocExtension_GetNumericProperty("generic.current_allocated_bytes", &used))
    return false;
  return free > std::max(kFreeFloor, used / 4);
}

// The background releaser: started by the first caller, then lives as long as the process.
struct Releaser {
  std::mutex mutex;
  std::condition_variable wake;
  bool pending = false;  // a release was asked for
  bool watching = false;

  void run() {
    std::unique_lock lock(mutex);
    while (true) {
      if (watching) {
        wake.wait_for(lock, kPeriod, [&] { return pending; });
      } else {
        wake.wait(lock, [&] { return pending || watching; });
      }
      const bool asked = pending;
      pending = false;  // one asked for during the pause gets a release of its own after this
      lock.unlock();
      if (asked) {
        std::this_thread::sleep_for(kDelay);
        release_free_heap();
      } else if (too_much_free()) {
        release_free_heap();
      }
      lock.lock();
    }
  }
};

Releaser &releaser() {
  // Never destroyed: the thread may still wait on it while the process exits.
  static Releaser *instance = [] {
    auto *created = new Releaser;
    std::thread([created] { created->run(); }).detach();
    return created;
  }();
  return *instance;
}

}  // namespace

void release_free_heap() {
  if (MallocExtension_ReleaseFreeMemory != nullptr) {
    MallocExtension_ReleaseFreeMemory();
    if (hal_heap_unadvise_sparse != nullptr) hal_heap_unadvise_sparse();
  } else {
    malloc_trim(0);
  }
}

void release_free_heap_soon() {
  Releaser &r = releaser();
  {
    std::lock_guard lock(r.mutex);
    r.pending = true;
  }
  r.wake.notify_one();
}

void watch_free_heap() {
  if (MallocExtension_GetNumericProperty == nullptr) return;
  Releaser &r = releaser();
  {
    std::lock_guard lock(r.mutex);
    r.watching = true;
  }
  r.wake.notify_one();
}

}  // namespace hal::controller
