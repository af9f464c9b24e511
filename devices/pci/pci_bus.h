// PCI bus 0: functions by device number, configuration mechanism #1 (ports
// 0xcf8/0xcfc), and the MMIO window BARs are placed in. vmrun assigns BAR
// addresses when a device is added (as firmware would); Linux keeps them.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "devices/bus.h"
#include "devices/pci/config_space.h"
#include "vmm/result.h"

namespace vmrun::devices::pci {

class PciFunction {
 public:
  virtual ~PciFunction() = default;
  virtual ConfigSpace& config() = 0;
  // Config reads go through here so a function can pass some through to a
  // real device (VFIO); the default reads config().
  virtual uint32_t config_read(uint16_t offset, size_t len) {
    return config().read(offset, len);
  }
  // Config writes go through here so a function can react (MSI-X enable,
  // command register); the default stores them.
  virtual void config_write(uint16_t offset, size_t len, uint32_t value) {
    config().write(offset, len, value);
  }
  // The handler for BAR `index` accesses (offsets within the BAR), or null.
  virtual std::shared_ptr<BusDevice> bar_handler(int index) = 0;
};

class PciBus {
 public:
  static constexpr int kMaxDevices = 32;
  static constexpr uint64_t kMmioWindowStart = 0xe0000000;
  static constexpr uint64_t kMmioWindowEnd = 0xfe000000;  // below the IOAPIC

  // Slot 0 gets the host bridge.
  PciBus();

  // Places `fn` in the next free slot: assigns its BARs in the window and
  // maps their handlers on `mmio`. Returns the device number.
  Result<int> add(std::shared_ptr<PciFunction> fn, const std::vector<BarSpec>& bars,
                  Bus& mmio);

  // The CF8/CFC port device to put on the PIO bus at 0xcf8, 8 bytes.
  std::shared_ptr<BusDevice> config_ports();
  // The ECAM (memory-mapped configuration) window for bus 0: 4 KiB per
  // device and function, to put on the MMIO bus at kEcamBase. Linux finds it
  // only through an ACPI MCFG table, which vmrun does not provide yet, so
  // today's guests use CF8/CFC.
  static constexpr uint64_t kEcamBase = 0xd0000000;
  static constexpr uint64_t kEcamSize = 1 << 20;  // bus 0: 32 devices x 8 functions
  std::shared_ptr<BusDevice> ecam();

  // One configuration access of data.size() (1, 2 or 4) bytes, from either
  // mechanism; a missing device reads as all-ones.
  void config_read(int device, uint16_t offset, std::span<uint8_t> data);
  void config_write(int device, uint16_t offset, std::span<const uint8_t> data);

 private:
  class ConfigPorts;
  class Ecam;

  std::mutex mu_;  // serializes config cycles from several vCPUs
  std::array<std::shared_ptr<PciFunction>, kMaxDevices> slots_{};
  uint64_t next_mmio_ = kMmioWindowStart;
};

}  // namespace vmrun::devices::pci
