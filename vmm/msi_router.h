// MSI delivery through KVM: each MSI vector of each device gets its own GSI
// and an eventfd bound to it with KVM_IRQFD; the GSI's route (the MSI address
// and data the guest programmed) is kept in KVM's routing table. Firing a
// vector is then one eventfd write, from any thread, and devices that the
// kernel drives (VFIO, vhost) can signal the same eventfd without us.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <vector>

#include "vmm/kvm.h"
#include "vmm/unique_fd.h"

namespace vmrun {

class MsiRouter {
 public:
  explicit MsiRouter(VmFd& vm) : vm_(vm) {}

  // A new GSI with its irqfd; returns the GSI.
  Result<uint32_t> allocate();
  // Points `gsi` at an MSI message and updates KVM's routing table.
  Result<void> set_route(uint32_t gsi, uint64_t addr, uint32_t data);
  // A masked GSI's eventfd is detached from KVM: signals wait in it, and
  // KVM injects one as soon as it is attached again (unmasked).
  Result<void> set_masked(uint32_t gsi, bool masked);
  // Raises the GSI's interrupt.
  void fire(uint32_t gsi);
  int eventfd(uint32_t gsi);

 private:
  // The routes KVM sets up by default for the PIC and IOAPIC (GSIs 0-23):
  // KVM_SET_GSI_ROUTING replaces the whole table, so they must be included.
  static std::vector<kvm_irq_routing_entry> irqchip_routes();
  Result<void> commit_locked();

  static constexpr uint32_t kFirstMsiGsi = 24;
  VmFd& vm_;
  std::mutex mu_;
  uint32_t next_gsi_ = kFirstMsiGsi;
  std::map<uint32_t, UniqueFd> eventfds_;
  std::map<uint32_t, kvm_irq_routing_entry> msi_routes_;
};

}  // namespace vmrun
