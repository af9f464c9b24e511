// Thin RAII wrappers over the /dev/kvm, VM and vCPU file descriptors.
// Each ioctl returns a Result naming the ioctl, so errors reach main with
// context. Nothing here knows about devices or boot layout.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "vmm/result.h"
#include "vmm/unique_fd.h"

namespace vmrun {

class VcpuFd {
 public:
  VcpuFd(UniqueFd fd, kvm_run* run, size_t run_size)
      : fd_(std::move(fd)), run_(run), run_size_(run_size) {}
  ~VcpuFd();
  VcpuFd(const VcpuFd&) = delete;
  VcpuFd& operator=(const VcpuFd&) = delete;

  kvm_run* run_area() { return run_; }
  size_t run_size() const { return run_size_; }
  // Returns the raw ioctl result; the caller tells EINTR/EAGAIN apart.
  int run();

  Result<kvm_regs> get_regs();
  Result<void> set_regs(const kvm_regs& regs);
  Result<kvm_sregs> get_sregs();
  Result<void> set_sregs(const kvm_sregs& sregs);
  Result<kvm_fpu> get_fpu();
  Result<void> set_fpu(const kvm_fpu& fpu);
  // The gdb stub's: breakpoints, single step, debug registers; and a guest
  // virtual address through this vCPU's page tables.
  Result<void> set_guest_debug(const kvm_guest_debug& debug);
  Result<kvm_translation> translate(uint64_t gva);
  // Tells a guest using kvmclock that it was paused (its soft-lockup
  // watchdog then does not count the pause); fails if it does not use it.
  Result<void> kvmclock_paused();
  Result<kvm_vcpu_events> get_vcpu_events();
  Result<void> set_vcpu_events(const kvm_vcpu_events& events);
  Result<void> set_cpuid(const std::vector<kvm_cpuid_entry2>& entries);
  Result<void> set_msrs(const std::vector<kvm_msr_entry>& msrs);
  Result<kvm_lapic_state> get_lapic();
  Result<void> set_lapic(const kvm_lapic_state& lapic);

 private:
  UniqueFd fd_;
  kvm_run* run_;
  size_t run_size_;
};

class VmFd {
 public:
  explicit VmFd(UniqueFd fd, int vcpu_mmap_size)
      : fd_(std::move(fd)), vcpu_mmap_size_(vcpu_mmap_size) {}

  int fd() const { return fd_.get(); }
  Result<void> set_user_memory_region(uint32_t slot, uint64_t gpa,
                                      uint64_t size, void* host);
  Result<void> set_tss_addr(uint64_t addr);
  Result<void> set_identity_map_addr(uint64_t addr);
  Result<void> create_irqchip();
  Result<void> create_pit2();
  Result<void> irq_line(uint32_t irq, bool level);
  // KVM signals `fd` on a guest write to [addr, addr + len) instead of
  // exiting to us (queue notifications).
  Result<void> ioeventfd(uint64_t addr, uint32_t len, int fd);
  // KVM injects GSI `gsi` whenever `fd` is signalled.
  Result<void> irqfd(int fd, uint32_t gsi);
  Result<void> irqfd_deassign(int fd, uint32_t gsi);
  // Level-triggered: `fd` raises the GSI, and when the guest ends the
  // interrupt KVM lowers it and signals `resample_fd`.
  Result<void> irqfd_resample(int fd, uint32_t gsi, int resample_fd);
  // Replaces the whole GSI routing table.
  Result<void> set_gsi_routing(const std::vector<kvm_irq_routing_entry>& routes);
  Result<std::unique_ptr<VcpuFd>> create_vcpu(int id);
  int check_extension(long cap) const;

 private:
  UniqueFd fd_;
  int vcpu_mmap_size_;
};

class Kvm {
 public:
  // Opens the KVM device (normally /dev/kvm) and checks the API version.
  static Result<Kvm> open(const std::string& path);

  int check_extension(long cap) const;
  int max_vcpus() const;
  Result<std::vector<kvm_cpuid_entry2>> supported_cpuid() const;
  Result<VmFd> create_vm() const;

 private:
  explicit Kvm(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

}  // namespace vmrun
