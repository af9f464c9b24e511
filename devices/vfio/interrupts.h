// A passed-through device's interrupts, from the device to the guest
// without vmrun in the path: VFIO signals an eventfd that KVM's irqfd
// injects. One mode at a time, as the guest chooses: INTx (level, with
// KVM's resample telling VFIO to unmask the line), MSI, or MSI-X.
#pragma once

#include <cstdint>
#include <vector>

#include "devices/vfio/device_io.h"
#include "vmm/unique_fd.h"

namespace vmrun::devices::vfio {

// vmrun's side of the wiring (MsiRouter and KVM_IRQFD in the real VM).
class IrqSink {
 public:
  virtual ~IrqSink() = default;
  // A new GSI whose eventfd KVM injects; it starts unmasked.
  virtual Result<uint32_t> allocate_msi() = 0;
  virtual int msi_eventfd(uint32_t gsi) = 0;
  virtual Result<void> route_msi(uint32_t gsi, uint64_t addr, uint32_t data) = 0;
  // Masked: signals wait in the eventfd and are injected on unmask.
  virtual Result<void> mask_msi(uint32_t gsi, bool masked) = 0;
  virtual Result<void> bind_intx(uint32_t gsi, int trigger_fd, int resample_fd) = 0;
};

// One MSI or MSI-X vector as the guest programmed it.
struct MsiVector {
  uint64_t addr = 0;
  uint32_t data = 0;
  bool masked = false;
  bool operator==(const MsiVector&) const = default;
};

class Interrupts {
 public:
  static constexpr uint32_t kNone = 0xffffffff;

  Interrupts(DeviceIo& device, IrqSink& sink) : device_(device), sink_(sink) {}

  // Binds INTx to `gsi` and turns it on (the mode a guest starts in).
  Result<void> attach_intx(uint32_t gsi);
  // The guest's MSI (kMsiIrq) or MSI-X (kMsixIrq) state now: the enabled
  // vectors, or none when it is off. Routes, masks and the VFIO eventfds
  // follow; INTx is off while either is on.
  Result<void> set_msi(uint32_t index, const std::vector<MsiVector>& vectors);

  uint32_t mode() const { return mode_; }

 private:
  Result<void> enable_intx();
  Result<void> apply(size_t i, const MsiVector& v, bool force);

  DeviceIo& device_;
  IrqSink& sink_;
  uint32_t mode_ = kNone;
  bool intx_attached_ = false;
  UniqueFd intx_trigger_, intx_resample_;
  std::vector<uint32_t> gsis_;        // reused across enables
  std::vector<bool> gsi_masked_;      // the sink's state per gsis_ entry
  std::vector<MsiVector> programmed_;
};

}  // namespace vmrun::devices::vfio
