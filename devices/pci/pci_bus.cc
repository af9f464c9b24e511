#include "devices/pci/pci_bus.h"

#include <algorithm>
#include <cstring>

#include "vmm/hex.h"

namespace vmrun::devices::pci {
namespace {

constexpr uint32_t kClassHostBridge = 0x060000;

// 00:00.0. Linux's type-1 access check wants a host bridge on the bus.
class HostBridge : public PciFunction {
 public:
  HostBridge() : config_(kVendorRedHat, 0x0008, kClassHostBridge, 0, 0, 0) {}
  ConfigSpace& config() override { return config_; }
  std::shared_ptr<BusDevice> bar_handler(int) override { return nullptr; }

 private:
  ConfigSpace config_;
};

}  // namespace

// Mechanism #1: 0xcf8 holds the address (enable bit, bus, device, function,
// register); 0xcfc-0xcff is the data window onto that dword.
class PciBus::ConfigPorts : public BusDevice {
 public:
  explicit ConfigPorts(PciBus& bus) : bus_(bus) {}

  void read(uint64_t offset, std::span<uint8_t> data) override {
    std::fill(data.begin(), data.end(), 0xff);
    if (offset == 0 && data.size() == 4) {
      std::lock_guard lock(mu_);
      std::memcpy(data.data(), &address_, 4);
      return;
    }
    int device;
    uint16_t reg;
    if (offset < 4 || !target(offset, data.size(), &device, &reg)) return;
    bus_.config_read(device, reg, data);
  }

  void write(uint64_t offset, std::span<const uint8_t> data) override {
    if (offset == 0 && data.size() == 4) {
      std::lock_guard lock(mu_);
      std::memcpy(&address_, data.data(), 4);
      return;
    }
    int device;
    uint16_t reg;
    if (offset < 4 || !target(offset, data.size(), &device, &reg)) return;
    bus_.config_write(device, reg, data);
  }

 private:
  // Decodes the latched address for a data access at `offset` (4..7).
  bool target(uint64_t offset, size_t len, int* device, uint16_t* reg) {
    std::lock_guard lock(mu_);
    if (!(address_ & 0x80000000u)) return false;  // config space disabled
    uint32_t bus = (address_ >> 16) & 0xff;
    uint32_t function = (address_ >> 8) & 0x7;
    if (bus != 0 || function != 0) return false;  // only bus 0, function 0
    *device = static_cast<int>((address_ >> 11) & 0x1f);
    *reg = static_cast<uint16_t>((address_ & 0xfc) + (offset - 4));
    return *reg + len <= 256;
  }

  PciBus& bus_;
  std::mutex mu_;
  uint32_t address_ = 0;
};

// ECAM: the offset is bus (bits 27:20, only 0 here), device (19:15),
// function (14:12) and register (11:0).
class PciBus::Ecam : public BusDevice {
 public:
  explicit Ecam(PciBus& bus) : bus_(bus) {}

  void read(uint64_t offset, std::span<uint8_t> data) override {
    std::fill(data.begin(), data.end(), 0xff);
    int device;
    uint16_t reg;
    if (!decode(offset, data.size(), &device, &reg)) return;
    bus_.config_read(device, reg, data);
  }

  void write(uint64_t offset, std::span<const uint8_t> data) override {
    int device;
    uint16_t reg;
    if (!decode(offset, data.size(), &device, &reg)) return;
    bus_.config_write(device, reg, data);
  }

 private:
  static bool decode(uint64_t offset, size_t len, int* device, uint16_t* reg) {
    if (len != 1 && len != 2 && len != 4) return false;
    if (((offset >> 12) & 0x7) != 0) return false;  // function 0 only
    uint64_t r = offset & 0xfff;
    if (r + len > 256) return false;  // no extended config space yet
    *device = static_cast<int>((offset >> 15) & 0x1f);
    *reg = static_cast<uint16_t>(r);
    return true;
  }

  PciBus& bus_;
};

PciBus::PciBus() { slots_[0] = std::make_shared<HostBridge>(); }

std::shared_ptr<BusDevice> PciBus::ecam() { return std::make_shared<Ecam>(*this); }

Result<int> PciBus::add(std::shared_ptr<PciFunction> fn,
                        const std::vector<BarSpec>& bars, Bus& mmio) {
  auto slot = std::find(slots_.begin(), slots_.end(), nullptr);
  if (slot == slots_.end()) return Error("PCI bus 0 is full");
  int device = static_cast<int>(slot - slots_.begin());
  for (size_t i = 0; i < bars.size() && i < 6; ++i) {
    const BarSpec& spec = bars[i];
    if (spec.size == 0) continue;
    // Natural alignment, as the BAR sizing protocol implies.
    uint64_t addr = (next_mmio_ + spec.size - 1) & ~(spec.size - 1);
    if (addr + spec.size > kMmioWindowEnd) {
      return Error("PCI MMIO window full placing BAR of " + hex(spec.size));
    }
    next_mmio_ = addr + spec.size;
    fn->config().set_bar(static_cast<int>(i), spec, addr);
    if (auto handler = fn->bar_handler(static_cast<int>(i))) {
      VMRUN_TRY(mmio.insert(handler, addr, spec.size));
    }
    if (spec.is64) ++i;  // the next slot is this BAR's upper half
  }
  *slot = std::move(fn);
  return device;
}

std::shared_ptr<BusDevice> PciBus::config_ports() {
  return std::make_shared<ConfigPorts>(*this);
}

void PciBus::config_read(int device, uint16_t offset, std::span<uint8_t> data) {
  uint32_t v = 0xffffffff;  // no device: the vendor ID reads as 0xffff
  {
    std::lock_guard lock(mu_);
    if (auto& fn = slots_[static_cast<size_t>(device)]) {
      v = fn->config_read(offset, data.size());
    }
  }
  std::memcpy(data.data(), &v, std::min(data.size(), sizeof v));
}

void PciBus::config_write(int device, uint16_t offset,
                          std::span<const uint8_t> data) {
  uint32_t v = 0;
  std::memcpy(&v, data.data(), std::min(data.size(), sizeof v));
  std::lock_guard lock(mu_);
  if (auto& fn = slots_[static_cast<size_t>(device)]) {
    fn->config_write(offset, data.size(), v);
  }
}

}  // namespace vmrun::devices::pci
