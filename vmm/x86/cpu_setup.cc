#include "vmm/x86/cpu_setup.h"

#include <cstring>

#include "vmm/x86/layout.h"

namespace vmrun::x86 {
namespace {

constexpr uint64_t kCr0Pe = 1ull << 0, kCr0Et = 1ull << 4, kCr0Pg = 1ull << 31;
constexpr uint64_t kCr4Pae = 1ull << 5;
constexpr uint64_t kEferLme = 1ull << 8, kEferLma = 1ull << 10;
constexpr uint32_t kMsrMiscEnable = 0x1a0;
constexpr uint64_t kMiscEnableFastStrings = 1;
constexpr uint32_t kApicLvt0 = 0x350, kApicLvt1 = 0x360;
constexpr uint32_t kDeliveryExtInt = 7, kDeliveryNmi = 4;

constexpr uint64_t gdt_entry(uint64_t flags, uint64_t base, uint64_t limit) {
  return ((base & 0xff000000ull) << 32) | ((base & 0x00ffffffull) << 16) |
         (limit & 0xffffull) | ((limit & 0xf0000ull) << 32) |
         ((flags & 0xf0ffull) << 40);
}

kvm_segment segment(uint16_t selector, uint8_t type, bool code) {
  kvm_segment s{};
  s.base = 0;
  s.limit = 0xffffffff;
  s.selector = selector;
  s.type = type;
  s.present = 1;
  s.s = 1;
  s.g = 1;
  s.l = code ? 1 : 0;
  s.db = code ? 0 : 1;
  return s;
}

uint32_t set_delivery_mode(uint32_t lvt, uint32_t mode) {
  return (lvt & ~0x700u) | (mode << 8);
}

}  // namespace

std::vector<kvm_cpuid_entry2> cpuid_for_vcpu(
    std::vector<kvm_cpuid_entry2> entries, int index, int count,
    bool tsc_deadline) {
  const uint32_t apic_id = static_cast<uint32_t>(index);
  for (auto& e : entries) {
    switch (e.function) {
      case 1:
        // EBX[31:24] initial APIC ID, EBX[23:16] logical processors.
        e.ebx = (e.ebx & 0x0000ffff) | (apic_id << 24) |
                (static_cast<uint32_t>(count & 0xff) << 16);
        e.ecx |= 1u << 31;  // running under a hypervisor
        if (count > 1) e.edx |= 1u << 28;  // HTT: the count above is valid
        // With the TSC-deadline timer Linux needs no LAPIC timer calibration,
        // which fails under emulation and leaves it on the PIT.
        if (tsc_deadline) e.ecx |= 1u << 24;
        break;
      case 0xb:
      case 0x1f:
        e.edx = apic_id;  // x2APIC ID, for every subleaf
        break;
      case 0x8000001e:
        e.eax = apic_id;  // AMD extended APIC ID
        break;
      default:
        break;
    }
  }
  return entries;
}

Result<void> write_boot_gdt(const GuestMemory& mem) {
  const uint64_t gdt[] = {
      0,
      gdt_entry(0xa09b, 0, 0xfffff),  // code: present, long mode
      gdt_entry(0xc093, 0, 0xfffff),  // data: present, writable
      gdt_entry(0x808b, 0, 0xfffff),  // TSS: present, busy
  };
  VMRUN_TRY(mem.write(kGdtAddr, std::span(reinterpret_cast<const uint8_t*>(gdt),
                                          sizeof gdt)));
  return mem.write_obj(kIdtAddr, uint64_t{0});
}

kvm_sregs long_mode_sregs(kvm_sregs sregs, uint64_t cr3) {
  sregs.gdt.base = kGdtAddr;
  sregs.gdt.limit = 4 * 8 - 1;
  sregs.idt.base = kIdtAddr;
  sregs.idt.limit = 7;
  sregs.cs = segment(0x08, 0xb, true);
  sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss =
      segment(0x10, 0x3, false);
  sregs.tr = segment(0x18, 0xb, false);
  sregs.tr.s = 0;
  sregs.tr.g = 0;
  sregs.tr.db = 0;
  sregs.tr.limit = 0xfffff;
  sregs.cr0 = (sregs.cr0 | kCr0Pe | kCr0Et | kCr0Pg);
  sregs.cr3 = cr3;
  sregs.cr4 = sregs.cr4 | kCr4Pae;
  sregs.efer = sregs.efer | kEferLme | kEferLma;
  return sregs;
}

kvm_regs boot_regs(uint64_t entry, uint64_t zero_page) {
  kvm_regs regs{};
  regs.rflags = 0x2;  // bit 1 is reserved and always set
  regs.rip = entry;
  regs.rsp = kBootStackTop;
  regs.rbp = kBootStackTop;
  regs.rsi = zero_page;  // the 64-bit boot protocol passes boot_params here
  return regs;
}

Result<void> setup_boot_cpu(VcpuFd& vcpu, uint64_t entry, uint64_t zero_page,
                            uint64_t cr3) {
  auto sregs = VMRUN_TRY(vcpu.get_sregs());
  VMRUN_TRY(vcpu.set_sregs(long_mode_sregs(sregs, cr3)));
  VMRUN_TRY(vcpu.set_regs(boot_regs(entry, zero_page)));
  kvm_fpu fpu{};
  fpu.fcw = 0x37f;      // x87 default control word
  fpu.mxcsr = 0x1f80;   // SSE default: all exceptions masked
  VMRUN_TRY(vcpu.set_fpu(fpu));
  kvm_msr_entry misc{};
  misc.index = kMsrMiscEnable;
  misc.data = kMiscEnableFastStrings;
  return vcpu.set_msrs({misc});
}

Result<void> setup_lapic(VcpuFd& vcpu) {
  auto lapic = VMRUN_TRY(vcpu.get_lapic());
  uint32_t lvt0, lvt1;
  std::memcpy(&lvt0, lapic.regs + kApicLvt0, 4);
  std::memcpy(&lvt1, lapic.regs + kApicLvt1, 4);
  lvt0 = set_delivery_mode(lvt0, kDeliveryExtInt);
  lvt1 = set_delivery_mode(lvt1, kDeliveryNmi);
  std::memcpy(lapic.regs + kApicLvt0, &lvt0, 4);
  std::memcpy(lapic.regs + kApicLvt1, &lvt1, 4);
  return vcpu.set_lapic(lapic);
}

}  // namespace vmrun::x86
