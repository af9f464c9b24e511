// An address space (port I/O or MMIO) mapping ranges to devices. A device sees
// offsets inside its own range only. Devices do their own locking: the bus is
// read-only once the VM runs, and vCPU threads call into it concurrently.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>

#include "vmm/result.h"

namespace vmrun::devices {

class BusDevice {
 public:
  virtual ~BusDevice() = default;
  virtual void read(uint64_t offset, std::span<uint8_t> data) = 0;
  virtual void write(uint64_t offset, std::span<const uint8_t> data) = 0;
};

class Bus {
 public:
  explicit Bus(std::string name) : name_(std::move(name)) {}

  // Fails if [base, base + len) is empty, wraps, or overlaps a range.
  Result<void> insert(std::shared_ptr<BusDevice> device, uint64_t base,
                      uint64_t len);

  // False when no device covers the whole access; the caller decides what an
  // unclaimed access means (reads of unclaimed ports return all-ones).
  bool read(uint64_t addr, std::span<uint8_t> data) const;
  bool write(uint64_t addr, std::span<const uint8_t> data) const;

 private:
  struct Range {
    uint64_t len;
    std::shared_ptr<BusDevice> device;
  };
  // Returns the device and offset for [addr, addr + size), or nullptr.
  BusDevice* find(uint64_t addr, uint64_t size, uint64_t* offset) const;

  std::string name_;
  std::map<uint64_t, Range> ranges_;  // keyed by base
};

}  // namespace vmrun::devices
