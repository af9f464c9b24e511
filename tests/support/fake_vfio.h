// Recording fakes for the VFIO unit tests: a DeviceIo whose regions are
// plain byte buffers and whose every write, irq setting and mmap is logged,
// and an IrqSink that hands out GSIs and logs routes, masks and INTx binds.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "devices/vfio/device_io.h"
#include "devices/vfio/interrupts.h"

namespace vmrun::test_support {

using devices::vfio::DeviceIo;
using devices::vfio::IrqSink;
using devices::vfio::Region;

class FakeVfioDevice : public DeviceIo {
 public:
  struct Access {
    uint32_t region;
    uint64_t offset;
    std::vector<uint8_t> bytes;  // what was written (empty for reads)
    size_t size;
  };
  struct IrqSet {
    uint32_t index;
    std::vector<int> fds;
  };
  struct Map {
    uint32_t region;
    uint64_t offset;
    uint64_t size;
  };

  // Declares region `index` of `size` bytes, readable and writable, backed
  // by a zeroed buffer.
  void add_region(uint32_t index, uint64_t size, bool mappable = false) {
    Region r;
    r.size = size;
    r.readable = r.writable = true;
    r.mappable = mappable;
    regions[index] = r;
    backing[index].assign(size, 0);
  }

  std::string name() const override { return "0000:01:00.0"; }

  Result<Region> region(uint32_t index) override {
    auto it = regions.find(index);
    return it == regions.end() ? Region{} : it->second;
  }

  uint32_t irq_count(uint32_t index) override {
    auto it = irq_counts.find(index);
    return it == irq_counts.end() ? 0 : it->second;
  }

  Result<void> read(uint32_t region, uint64_t offset, std::span<uint8_t> data) override {
    reads.push_back({region, offset, {}, data.size()});
    auto& buf = backing[region];
    if (offset + data.size() > buf.size()) return Error("fake: read past region");
    std::memcpy(data.data(), buf.data() + offset, data.size());
    return ok();
  }

  Result<void> write(uint32_t region, uint64_t offset, std::span<const uint8_t> data) override {
    writes.push_back({region, offset, {data.begin(), data.end()}, data.size()});
    auto& buf = backing[region];
    if (offset + data.size() > buf.size()) return Error("fake: write past region");
    std::memcpy(buf.data() + offset, data.data(), data.size());
    return ok();
  }

  Result<uint8_t*> map(uint32_t region, uint64_t offset, uint64_t size) override {
    maps.push_back({region, offset, size});
    auto& buf = backing[region];
    if (offset + size > buf.size()) return Error("fake: map past region");
    return buf.data() + offset;
  }

  Result<void> set_irq_eventfds(uint32_t index, std::span<const int> fds) override {
    irq_sets.push_back({index, {fds.begin(), fds.end()}});
    return ok();
  }

  Result<void> set_intx_unmask_eventfd(int fd) override {
    unmask_fds.push_back(fd);
    return ok();
  }

  bool can_reset() const override { return true; }
  Result<void> reset() override { return ok(); }

  // The writes into one region, in order.
  std::vector<Access> writes_to(uint32_t region) const {
    std::vector<Access> out;
    for (const auto& w : writes) {
      if (w.region == region) out.push_back(w);
    }
    return out;
  }

  std::map<uint32_t, Region> regions;
  std::map<uint32_t, std::vector<uint8_t>> backing;
  std::map<uint32_t, uint32_t> irq_counts;
  std::vector<Access> reads, writes;
  std::vector<IrqSet> irq_sets;
  std::vector<int> unmask_fds;
  std::vector<Map> maps;
};

class FakeIrqSink : public IrqSink {
 public:
  static constexpr uint32_t kFirstGsi = 24;
  static constexpr int kFdBase = 1000;  // msi_eventfd(gsi) == kFdBase + gsi

  struct Route {
    uint32_t gsi;
    uint64_t addr;
    uint32_t data;
    bool operator==(const Route&) const = default;
  };
  struct Mask {
    uint32_t gsi;
    bool masked;
    bool operator==(const Mask&) const = default;
  };
  struct IntxBind {
    uint32_t gsi;
    int trigger_fd, resample_fd;
  };

  Result<uint32_t> allocate_msi() override {
    ++allocations;
    return kFirstGsi + allocations - 1;
  }
  int msi_eventfd(uint32_t gsi) override { return kFdBase + static_cast<int>(gsi); }
  Result<void> route_msi(uint32_t gsi, uint64_t addr, uint32_t data) override {
    routes.push_back({gsi, addr, data});
    return ok();
  }
  Result<void> mask_msi(uint32_t gsi, bool masked) override {
    masks.push_back({gsi, masked});
    return ok();
  }
  Result<void> bind_intx(uint32_t gsi, int trigger_fd, int resample_fd) override {
    intx_binds.push_back({gsi, trigger_fd, resample_fd});
    return ok();
  }

  uint32_t allocations = 0;
  std::vector<Route> routes;
  std::vector<Mask> masks;
  std::vector<IntxBind> intx_binds;
};

}  // namespace vmrun::test_support
