// What vmrun needs from one VFIO device: its regions (BARs, config space),
// reads and writes into them, mmaps of them, and its interrupts wired to
// eventfds. The kernel implementation is KernelDevice (kernel_vfio.h); the
// unit tests use a recording fake.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "vmm/result.h"

namespace vmrun::devices::vfio {

// VFIO's fixed region and interrupt indexes for PCI devices (linux/vfio.h).
constexpr uint32_t kBar0Region = 0;
constexpr uint32_t kConfigRegion = 7;
constexpr uint32_t kIntxIrq = 0;
constexpr uint32_t kMsiIrq = 1;
constexpr uint32_t kMsixIrq = 2;

struct Region {
  uint64_t size = 0;  // 0: the device has no such region
  bool readable = false;
  bool writable = false;
  bool mappable = false;
  // Where mmap is allowed, as (offset, size) inside the region; empty with
  // `mappable` means all of it.
  std::vector<std::pair<uint64_t, uint64_t>> mmap_areas;
};

class DeviceIo {
 public:
  virtual ~DeviceIo() = default;

  virtual std::string name() const = 0;  // the host PCI address
  virtual Result<Region> region(uint32_t index) = 0;
  virtual uint32_t irq_count(uint32_t index) = 0;

  virtual Result<void> read(uint32_t region, uint64_t offset, std::span<uint8_t> data) = 0;
  virtual Result<void> write(uint32_t region, uint64_t offset,
                             std::span<const uint8_t> data) = 0;
  // Maps [offset, offset + size) of a mappable region; the mapping lives as
  // long as the device.
  virtual Result<uint8_t*> map(uint32_t region, uint64_t offset, uint64_t size) = 0;

  // Interrupt `index` (INTx, MSI or MSI-X) signals fds[i] for vector i;
  // empty `fds` disables that interrupt in the device.
  virtual Result<void> set_irq_eventfds(uint32_t index, std::span<const int> fds) = 0;
  // After a level-triggered INTx the kernel masks the line until `fd` is
  // signalled (KVM does that when the guest ends the interrupt).
  virtual Result<void> set_intx_unmask_eventfd(int fd) = 0;

  virtual bool can_reset() const = 0;
  virtual Result<void> reset() = 0;
};

}  // namespace vmrun::devices::vfio
