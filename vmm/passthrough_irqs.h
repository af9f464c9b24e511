// The KVM side of a passed-through device's interrupts: MSI vectors through
// the MsiRouter (a GSI, route and irqfd each), INTx as a resampled irqfd on
// the slot's IOAPIC pin.
#pragma once

#include "devices/vfio/interrupts.h"
#include "vmm/kvm.h"
#include "vmm/msi_router.h"

namespace vmrun {

class PassthroughIrqs : public devices::vfio::IrqSink {
 public:
  PassthroughIrqs(MsiRouter& msi, VmFd& vm) : msi_(msi), vm_(vm) {}

  Result<uint32_t> allocate_msi() override { return msi_.allocate(); }
  int msi_eventfd(uint32_t gsi) override { return msi_.eventfd(gsi); }
  Result<void> route_msi(uint32_t gsi, uint64_t addr, uint32_t data) override {
    return msi_.set_route(gsi, addr, data);
  }
  Result<void> mask_msi(uint32_t gsi, bool masked) override {
    return msi_.set_masked(gsi, masked);
  }
  Result<void> bind_intx(uint32_t gsi, int trigger_fd, int resample_fd) override {
    return vm_.irqfd_resample(trigger_fd, gsi, resample_fd);
  }

 private:
  MsiRouter& msi_;
  VmFd& vm_;
};

}  // namespace vmrun
