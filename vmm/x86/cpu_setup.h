// vCPU state for the 64-bit Linux boot protocol: CPUID per vCPU, long-mode
// segment and control registers, boot registers, MSRs and LAPIC LINT pins.
// The pure parts (cpuid_for_vcpu, long_mode_sregs, boot_regs) are separate
// so unit tests can check them without /dev/kvm.
#pragma once

#include <linux/kvm.h>

#include <vector>

#include "vmm/guest_memory.h"
#include "vmm/kvm.h"

namespace vmrun::x86 {

// KVM's supported CPUID adjusted for vCPU `index` of `count`: APIC IDs,
// logical processor count, the hypervisor bit, and the TSC-deadline timer
// when KVM emulates it (KVM_CAP_TSC_DEADLINE_TIMER; KVM does not list it).
std::vector<kvm_cpuid_entry2> cpuid_for_vcpu(
    std::vector<kvm_cpuid_entry2> supported, int index, int count,
    bool tsc_deadline = false);

// The GDT the boot CPU starts with: null, 64-bit code (0x08), data (0x10),
// TSS (0x18). Linux replaces it at once; it only has to be valid.
Result<void> write_boot_gdt(const GuestMemory& mem);

kvm_sregs long_mode_sregs(kvm_sregs sregs, uint64_t cr3);
kvm_regs boot_regs(uint64_t entry, uint64_t zero_page);

// Everything the boot CPU needs before its first KVM_RUN.
Result<void> setup_boot_cpu(VcpuFd& vcpu, uint64_t entry, uint64_t zero_page,
                            uint64_t cr3);
// LINT0 as ExtINT (the 8259 path) and LINT1 as NMI, as firmware leaves them.
Result<void> setup_lapic(VcpuFd& vcpu);

}  // namespace vmrun::x86
