// A disk in a vector (for the virtio-blk unit tests and fuzzer) that
// records what was asked of it. Header-only.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <utility>
#include <vector>

#include "devices/disk.h"

namespace vmrun::test_support {

// size() is the raw byte count (not rounded) so the device's own rounding
// is tested.
class MemoryDisk : public devices::DiskBackend {
 public:
  explicit MemoryDisk(uint64_t bytes, bool read_only = false,
                      bool punch_holes = true)
      : data(bytes), read_only_(read_only), punch_holes_(punch_holes) {}

  uint64_t size() const override { return data.size(); }
  bool read_only() const override { return read_only_; }
  bool can_punch_holes() const override { return punch_holes_; }
  Result<void> read_at(uint64_t offset, std::span<uint8_t> out) override {
    VMRUN_TRY(check(offset, out.size()));
    std::copy_n(data.begin() + offset, out.size(), out.begin());
    return ok();
  }
  Result<void> write_at(uint64_t offset, std::span<const uint8_t> in) override {
    VMRUN_TRY(check(offset, in.size()));
    if (read_only_) return misuse("read-only");
    std::copy(in.begin(), in.end(), data.begin() + offset);
    return ok();
  }
  Result<void> flush() override {
    ++flushes;
    return fail ? Result<void>(Error("flush: EIO")) : ok();
  }
  Result<void> discard(uint64_t offset, uint64_t len) override {
    return zero(discards, offset, len);
  }
  Result<void> write_zeroes(uint64_t offset, uint64_t len) override {
    return zero(zeroes, offset, len);
  }

  std::vector<uint8_t> data;
  int flushes = 0;
  bool fail = false;  // every call fails, as a dying host disk would
  // For the fuzzer: a request the device should have refused itself (past
  // its sector-rounded capacity, or a change to a read-only disk) aborts,
  // because a file backend would carry it out (and grow the user's image).
  bool strict = false;
  std::vector<std::pair<uint64_t, uint64_t>> discards, zeroes;

 private:
  Result<void> check(uint64_t offset, uint64_t len) const {
    if (fail) return Error("I/O: EIO");
    const uint64_t end = strict ? data.size() / 512 * 512 : data.size();
    if (offset > end || len > end - offset) return misuse("out of range");
    return ok();
  }
  // Both discard and write-zeroes read back as zeroes here; `log` says which.
  Result<void> zero(std::vector<std::pair<uint64_t, uint64_t>>& log, uint64_t offset,
                    uint64_t len) {
    VMRUN_TRY(check(offset, len));
    if (read_only_) return misuse("read-only");
    log.push_back({offset, len});
    std::fill_n(data.begin() + offset, len, 0);
    return ok();
  }
  Result<void> misuse(const char* what) const {
    if (strict) std::abort();
    return Error(what);
  }
  bool read_only_;
  bool punch_holes_;
};

}  // namespace vmrun::test_support
