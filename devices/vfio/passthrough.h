// A host PCI function handed to the guest through VFIO. The guest sees the
// device's own config space, except what vmrun must own: the BARs (placed
// in the guest's PCI window, sized the usual way), the expansion ROM
// (hidden), the interrupt line, and the capability list, which keeps power
// management, PCI Express, MSI and MSI-X and skips the rest; MSI and MSI-X
// are emulated (msi_caps.h) and become KVM routes. Everything else is
// passed to VFIO, which itself filters what a user may write.
//
// BAR accesses go straight to the device through mmapped memory slots
// (map_bars), except the pages holding the MSI-X table and PBA, and BARs
// VFIO will not map, which trap here.
#pragma once

#include <array>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "devices/pci/pci_bus.h"
#include "devices/vfio/device_io.h"
#include "devices/vfio/interrupts.h"
#include "devices/vfio/msi_caps.h"

namespace vmrun::devices::vfio {

class Passthrough : public pci::PciFunction,
                    public std::enable_shared_from_this<Passthrough> {
 public:
  static Result<std::shared_ptr<Passthrough>> create(std::unique_ptr<DeviceIo> device,
                                                     IrqSink& irqs);

  // What the bus should allocate, by BAR index.
  const std::vector<pci::BarSpec>& bars() const { return bars_; }

  pci::ConfigSpace& config() override { return config_; }
  uint32_t config_read(uint16_t offset, size_t len) override;
  void config_write(uint16_t offset, size_t len, uint32_t value) override;
  std::shared_ptr<BusDevice> bar_handler(int index) override;

  // After the bus gave the function a slot: INTx goes to `gsi`.
  Result<void> attach_intx(uint32_t gsi);

  // The parts of the BARs the guest may reach without exits: each to
  // become a KVM memory slot. Call after the bus placed the BARs.
  struct DirectMapping {
    uint64_t gpa;
    uint64_t size;
    uint8_t* host;
  };
  Result<std::vector<DirectMapping>> map_bars();

  void bar_read(int index, uint64_t offset, std::span<uint8_t> data);
  void bar_write(int index, uint64_t offset, std::span<const uint8_t> data);

 private:
  Passthrough(std::unique_ptr<DeviceIo> device, IrqSink& irqs,
              const std::array<uint8_t, 256>& raw);
  Result<void> setup_bars();
  void setup_capabilities();
  uint32_t read_dword(uint16_t at);
  void update_msi(uint32_t index);

  std::unique_ptr<DeviceIo> device_;
  std::array<uint8_t, 256> raw_;  // config space as read at start
  pci::ConfigSpace config_;
  std::vector<pci::BarSpec> bars_ = std::vector<pci::BarSpec>(6);
  std::array<Region, 6> regions_{};
  uint8_t first_cap_ = 0;
  std::vector<std::pair<uint8_t, uint8_t>> cap_next_;  // (cap offset, next) as the guest sees them
  std::mutex mu_;  // the MSI state and interrupts: config cycles and BAR accesses race
  std::optional<MsiCap> msi_;
  std::optional<MsixCap> msix_;
  Interrupts irqs_;
};

}  // namespace vmrun::devices::vfio
