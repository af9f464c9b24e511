#include "devices/bus.h"

#include "vmm/hex.h"

namespace vmrun::devices {

Result<void> Bus::insert(std::shared_ptr<BusDevice> device, uint64_t base,
                         uint64_t len) {
  if (len == 0 || base + len < base) {
    return Error(name_ + ": bad range at " + hex(base));
  }
  auto next = ranges_.lower_bound(base);
  if (next != ranges_.end() && next->first < base + len) {
    return Error(name_ + ": range at " + hex(base) + " overlaps " +
                 hex(next->first));
  }
  if (next != ranges_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second.len > base) {
      return Error(name_ + ": range at " + hex(base) + " overlaps " +
                   hex(prev->first));
    }
  }
  ranges_.emplace(base, Range{len, std::move(device)});
  return ok();
}

BusDevice* Bus::find(uint64_t addr, uint64_t size, uint64_t* offset) const {
  auto it = ranges_.upper_bound(addr);
  if (it == ranges_.begin()) return nullptr;
  --it;
  uint64_t off = addr - it->first;
  if (off >= it->second.len || size > it->second.len - off) return nullptr;
  *offset = off;
  return it->second.device.get();
}

bool Bus::read(uint64_t addr, std::span<uint8_t> data) const {
  uint64_t offset = 0;
  BusDevice* dev = find(addr, data.size(), &offset);
  if (dev == nullptr) return false;
  dev->read(offset, data);
  return true;
}

bool Bus::write(uint64_t addr, std::span<const uint8_t> data) const {
  uint64_t offset = 0;
  BusDevice* dev = find(addr, data.size(), &offset);
  if (dev == nullptr) return false;
  dev->write(offset, data);
  return true;
}

}  // namespace vmrun::devices
