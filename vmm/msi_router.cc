#include "vmm/msi_router.h"

#include <sys/eventfd.h>
#include <unistd.h>

namespace vmrun {

std::vector<kvm_irq_routing_entry> MsiRouter::irqchip_routes() {
  std::vector<kvm_irq_routing_entry> routes;
  auto add = [&routes](uint32_t gsi, uint32_t chip, uint32_t pin) {
    kvm_irq_routing_entry e{};
    e.gsi = gsi;
    e.type = KVM_IRQ_ROUTING_IRQCHIP;
    e.u.irqchip.irqchip = chip;
    e.u.irqchip.pin = pin;
    routes.push_back(e);
  };
  for (uint32_t gsi = 0; gsi < 24; ++gsi) {
    if (gsi < 16) {
      add(gsi, gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE, gsi % 8);
    }
    add(gsi, KVM_IRQCHIP_IOAPIC, gsi);
  }
  return routes;
}

Result<uint32_t> MsiRouter::allocate() {
  std::lock_guard lock(mu_);
  UniqueFd fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!fd.valid()) return Error::from_errno("eventfd");
  uint32_t gsi = next_gsi_++;
  // A route must exist before KVM_IRQFD binds the GSI: start with a
  // harmless, never-delivered one (address 0) until the guest programs it.
  kvm_irq_routing_entry e{};
  e.gsi = gsi;
  e.type = KVM_IRQ_ROUTING_MSI;
  msi_routes_[gsi] = e;
  VMRUN_TRY(commit_locked());
  VMRUN_TRY(vm_.irqfd(fd.get(), gsi));
  eventfds_[gsi] = std::move(fd);
  return gsi;
}

Result<void> MsiRouter::set_route(uint32_t gsi, uint64_t addr, uint32_t data) {
  std::lock_guard lock(mu_);
  auto it = msi_routes_.find(gsi);
  if (it == msi_routes_.end()) return Error("MSI route for unknown GSI");
  it->second.u.msi.address_lo = static_cast<uint32_t>(addr);
  it->second.u.msi.address_hi = static_cast<uint32_t>(addr >> 32);
  it->second.u.msi.data = data;
  return commit_locked();
}

Result<void> MsiRouter::set_masked(uint32_t gsi, bool masked) {
  std::lock_guard lock(mu_);
  auto it = eventfds_.find(gsi);
  if (it == eventfds_.end()) return Error("mask of unknown GSI");
  return masked ? vm_.irqfd_deassign(it->second.get(), gsi) : vm_.irqfd(it->second.get(), gsi);
}

void MsiRouter::fire(uint32_t gsi) {
  int fd = eventfd(gsi);
  if (fd < 0) return;
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(fd, &one, sizeof one);
}

int MsiRouter::eventfd(uint32_t gsi) {
  std::lock_guard lock(mu_);
  auto it = eventfds_.find(gsi);
  return it == eventfds_.end() ? -1 : it->second.get();
}

Result<void> MsiRouter::commit_locked() {
  auto routes = irqchip_routes();
  for (const auto& [gsi, e] : msi_routes_) routes.push_back(e);
  return vm_.set_gsi_routing(routes);
}

}  // namespace vmrun
