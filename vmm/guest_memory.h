// Guest RAM: one anonymous mapping split into regions at guest-physical
// addresses. Every access from device or boot code goes through slice(),
// which checks the whole range (overflow and wrap included), so a bad guest
// address becomes an Error instead of a host memory access.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "vmm/result.h"

namespace vmrun {

struct MemoryRegion {
  uint64_t gpa;
  uint64_t size;
  uint8_t* host;
};

class GuestMemory {
 public:
  // Maps `regions` (gpa, size) backed by fresh zeroed anonymous memory.
  static Result<std::unique_ptr<GuestMemory>> create(
      const std::vector<std::pair<uint64_t, uint64_t>>& regions);
  ~GuestMemory();
  GuestMemory(const GuestMemory&) = delete;
  GuestMemory& operator=(const GuestMemory&) = delete;

  const std::vector<MemoryRegion>& regions() const { return regions_; }
  // Bytes of guest RAM the guest (or the loader) has touched so far.
  uint64_t resident_bytes() const;
  uint64_t total_size() const { return mapping_size_; }

  // The host view of [gpa, gpa + len), which must lie inside one region.
  Result<std::span<uint8_t>> slice(uint64_t gpa, uint64_t len) const;

  Result<void> write(uint64_t gpa, std::span<const uint8_t> data) const;
  Result<void> read(uint64_t gpa, std::span<uint8_t> out) const;

  template <class T>
  Result<void> write_obj(uint64_t gpa, const T& obj) const {
    return write(gpa, std::span(reinterpret_cast<const uint8_t*>(&obj),
                                sizeof(T)));
  }

 private:
  GuestMemory(uint8_t* base, uint64_t size, std::vector<MemoryRegion> regions)
      : base_(base), mapping_size_(size), regions_(std::move(regions)) {}

  uint8_t* base_;
  uint64_t mapping_size_;
  std::vector<MemoryRegion> regions_;
};

}  // namespace vmrun
