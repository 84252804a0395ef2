// huge_page_heap_test.cc - the controller's heap comes from memory advised for transparent huge
// pages, and is backed by them when the kernel gives them.
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

namespace {

// The /proc/self/smaps entry of the mapping that holds `address`.
struct Mapping {
  std::string vm_flags;
  long anon_huge_kib = -1;
};

Mapping mapping_of(const void *address) {
  const auto target = reinterpret_cast<uintptr_t>(address);
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  Mapping found;
  while (std::getline(smaps, line)) {
    uintptr_t start = 0, end = 0;
    char dash = 0;
    std::istringstream header(line);
    if (header >> std::hex >> start >> dash >> end && dash == '-' &&
        line.find(':') > line.find(' ')) {
      if (inside) break;  // the next mapping begins
      inside = start <= target && target < end;
      continue;
    }
    if (!inside) continue;
    if (line.rfind("AnonHugePages:", 0) == 0) found.anon_huge_kib = std::stol(line.substr(14));
    if (line.rfind("VmFlags:", 0) == 0) found.vm_flags = line.substr(8);
  }
  return found;
}

std::string thp_mode() {
  std::ifstream file("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string modes;
  std::getline(file, modes);
  return modes;
}

TEST(HugePageHeap, LargeHeapGrowthIsAdvisedAndBackedByHugePages) {
  const std::string modes = thp_mode();
  if (modes.empty()) GTEST_SKIP() << "this kernel has no transparent huge pages";
  constexpr size_t kSize = size_t{32} << 20;  // more than tcmalloc holds at start: grows the heap
  auto block = std::make_unique<char[]>(kSize);
  for (size_t offset = 0; offset < kSize; offset += 4096) block[offset] = 1;

  const Mapping mapping = mapping_of(block.get());
  ASSERT_FALSE(mapping.vm_flags.empty()) << "no mapping found for the block in /proc/self/smaps";
  EXPECT_NE(mapping.vm_flags.find(" hg"), std::string::npos)
      << "the heap's mapping is not advised for huge pages; VmFlags:" << mapping.vm_flags;
  if (modes.find("[never]") == std::string::npos) {
    EXPECT_GT(mapping.anon_huge_kib, 0)
        << "THP is on (" << modes << ") but no huge page backs 32 MiB of touched heap";
  }
}

}  // namespace
