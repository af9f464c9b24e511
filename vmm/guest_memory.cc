#include "vmm/guest_memory.h"

#include "vmm/hex.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <string>

namespace vmrun {

Result<std::unique_ptr<GuestMemory>> GuestMemory::create(
    const std::vector<std::pair<uint64_t, uint64_t>>& layout) {
  uint64_t total = 0;
  for (const auto& [gpa, size] : layout) {
    if (size == 0 || gpa + size < gpa) return Error("bad guest memory region");
    total += size;
  }
  // MAP_NORESERVE: the guest's RAM is committed page by page as it is touched,
  // so `-m 4096` costs nothing until the guest uses it.
  void* base = mmap(nullptr, total, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) {
    return Error::from_errno("mmap " + std::to_string(total >> 20) +
                             " MiB of guest memory");
  }
  std::vector<MemoryRegion> regions;
  uint64_t offset = 0;
  for (const auto& [gpa, size] : layout) {
    regions.push_back({gpa, size, static_cast<uint8_t*>(base) + offset});
    offset += size;
  }
  return std::unique_ptr<GuestMemory>(
      new GuestMemory(static_cast<uint8_t*>(base), total, std::move(regions)));
}

GuestMemory::~GuestMemory() { munmap(base_, mapping_size_); }

uint64_t GuestMemory::resident_bytes() const {
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> pages((mapping_size_ + page - 1) / page);
  if (mincore(base_, mapping_size_, pages.data()) != 0) return 0;
  uint64_t resident = 0;
  for (unsigned char p : pages) resident += (p & 1) ? page : 0;
  return resident;
}

Result<std::span<uint8_t>> GuestMemory::slice(uint64_t gpa,
                                              uint64_t len) const {
  for (const auto& r : regions_) {
    if (gpa < r.gpa) continue;
    uint64_t off = gpa - r.gpa;
    // Written so that no sum can wrap: off <= size, then len <= size - off.
    if (off <= r.size && len <= r.size - off) {
      return std::span<uint8_t>(r.host + off, len);
    }
  }
  return Error("guest range [" + hex(gpa) + " +" + std::to_string(len) +
               ") is outside guest memory");
}

Result<void> GuestMemory::write(uint64_t gpa,
                                std::span<const uint8_t> data) const {
  auto dst = VMRUN_TRY(slice(gpa, data.size()));
  if (!data.empty()) std::memcpy(dst.data(), data.data(), data.size());
  return ok();
}

Result<void> GuestMemory::read(uint64_t gpa, std::span<uint8_t> out) const {
  auto src = VMRUN_TRY(slice(gpa, out.size()));
  if (!out.empty()) std::memcpy(out.data(), src.data(), out.size());
  return ok();
}

}  // namespace vmrun
