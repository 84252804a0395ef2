// huge_page_heap.cc - backs hal-controller's tcmalloc heap with transparent huge pages.
//
// The controller's heap grows by about 200 MiB for 10,000 VMs, first touched one 4 KiB page at a
// time, and each first touch is a page fault; on paravirtualised hosts one costs tens of
// microseconds. Advising the heap for huge pages (MADV_HUGEPAGE, honoured when THP is "madvise"
// or "always") takes one fault per 2 MiB instead of 512. Where the kernel has no THP the advice
// is refused and the heap is ordinary memory.
#include <gperftools/malloc_extension.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdint>

namespace {

constexpr size_t kHugePage = size_t{2} << 20;

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
