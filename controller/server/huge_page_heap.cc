// huge_page_heap.cc - backs hal-controller's tcmalloc heap with transparent huge pages.
//
// The controller's heap grows by about 200 MiB for 10,000 VMs, first touched one 4 KiB page at a
// time, and each first touch is a page fault; on paravirtualised hosts one costs tens of
// microseconds. Advising the heap for huge pages (MADV_HUGEPAGE, honoured when THP is "madvise"
// or "always") takes one fault per 2 MiB instead of 512. Where the kernel has no THP the advice
// is refused and the heap is ordinary memory.
//
// Memory that tcmalloc hands back (after a large request) stays back only if no huge page is
// formed over it again: khugepaged collapses an advised 2 MiB range with a single resident page
// into a whole huge page. hal_heap_unadvise_sparse() therefore withdraws the advice from the
// ranges that are now mostly free (heap_release.cc calls it after a release).
#include <gperftools/malloc_extension.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <vector>

namespace {

constexpr size_t kHugePage = size_t{2} << 20;

// The advised regions (appended to under tcmalloc's page heap lock, so without allocating; read
// by hal_heap_unadvise_sparse). Beyond kMaxRegions a region is not remembered and stays advised.
struct Region {
  uintptr_t start;
  size_t length;
};
constexpr size_t kMaxRegions = 16384;
Region regions[kMaxRegions];
std::atomic<size_t> region_count{0};

size_t round_up(size_t value, size_t to) {
  return (value + to - 1) / to * to;
}

// tcmalloc's system allocator (called with its page heap locked, so it must not allocate):
// maps whole, aligned huge pages and advises them; falls back to tcmalloc's own allocator.
class HugePageAllocator final : public SysAllocator {
 public:
  explicit HugePageAllocator(SysAllocator *fallback) : fallback_(fallback) {}

  void *Alloc(size_t size, size_t *actual_size, size_t alignment) override {
    const size_t align = std::max(alignment, kHugePage);
    const size_t length = round_up(size, kHugePage);
    void *mapped =
        mmap(nullptr, length + align, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mapped == MAP_FAILED) return fallback_->Alloc(size, actual_size, alignment);
    const auto base = reinterpret_cast<uintptr_t>(mapped);
    const uintptr_t start = round_up(base, align);
    if (start > base) munmap(mapped, start - base);
    const uintptr_t end = start + length, mapped_end = base + length + align;
    if (mapped_end > end) munmap(reinterpret_cast<void *>(end), mapped_end - end);
    madvise(reinterpret_cast<void *>(start), length, MADV_HUGEPAGE);  // advice only
    if (const size_t n = region_count.load(std::memory_order_relaxed); n < kMaxRegions) {
      regions[n] = Region{start, length};
      region_count.store(n + 1, std::memory_order_release);
    }
    if (actual_size != nullptr) *actual_size = length;
    return reinterpret_cast<void *>(start);
  }

 private:
  SysAllocator *fallback_;
};

// Installed before main(); never destroyed (tcmalloc may grow the heap during exit).
const bool installed = [] {
  MallocExtension *extension = MallocExtension::instance();
  extension->SetSystemAllocator(new HugePageAllocator(extension->GetSystemAllocator()));
  return true;
}();

}  // namespace

/** Withdraws the huge-page advice from every 2 MiB range of the heap with fewer than half its
 *  pages resident, so that memory just released stays released. Not async-signal-safe. */
extern "C" void hal_heap_unadvise_sparse() {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> resident(kHugePage / page);
  const size_t count = region_count.load(std::memory_order_acquire);
  for (size_t r = 0; r < count; ++r) {
    for (size_t offset = 0; offset + kHugePage <= regions[r].length; offset += kHugePage) {
      void *range = reinterpret_cast<void *>(regions[r].start + offset);
      if (mincore(range, kHugePage, resident.data()) != 0) continue;
      const auto in_core = static_cast<size_t>(std::count_if(
          resident.begin(), resident.end(), [](unsigned char bit) { return (bit & 1) != 0; }));
      if (in_core < resident.size() / 2) madvise(range, kHugePage, MADV_NOHUGEPAGE);
    }
  }
}
