// Where things go in guest-physical memory for the 64-bit boot protocol.
// Everything below 1 MiB sits in the first 640 KiB, which the e820 map gives
// the guest as RAM; Linux reserves what it finds in use (zero page, tables).
#pragma once

#include <cstdint>

namespace vmrun::x86 {

constexpr uint64_t kGdtAddr = 0x500;
constexpr uint64_t kIdtAddr = 0x520;
constexpr uint64_t kZeroPageAddr = 0x7000;
constexpr uint64_t kBootStackTop = 0x8ff0;
constexpr uint64_t kPml4Addr = 0x9000;
constexpr uint64_t kPdptAddr = 0xa000;
constexpr uint64_t kPdAddr = 0xb000;  // 4 pages: identity map of 4 GiB
constexpr uint64_t kCmdlineAddr = 0x20000;
constexpr uint64_t kCmdlineMax = 2048;  // COMMAND_LINE_SIZE on x86
// The MP floating pointer sits in the last KiB of base memory, one of the
// places Linux scans for it; the configuration table it points to goes just
// below (room for hundreds of CPUs). e820 marks both reserved.
constexpr uint64_t kMpTableAddr = 0x9c000;
constexpr uint64_t kMpFloatingAddr = 0x9fc00;
constexpr uint64_t kEbdaEnd = 0xa0000;
constexpr uint64_t kHighMemAddr = 0x100000;  // 1 MiB: bzImage load address

// RAM above this is placed at 4 GiB, leaving a hole for MMIO (PCI, IOAPIC,
// LAPIC) below 4 GiB.
constexpr uint64_t kMmioHoleStart = 0xc0000000;
constexpr uint64_t kMmioHoleEnd = 0x100000000;
// KVM's VMX code needs three pages for a real-mode TSS and one for an
// identity page table, in guest-physical space that is not RAM.
constexpr uint64_t kTssAddr = 0xfffbd000;
constexpr uint64_t kIdentityMapAddr = 0xfffbc000;
constexpr uint64_t kIoapicAddr = 0xfec00000;
constexpr uint64_t kLapicAddr = 0xfee00000;

}  // namespace vmrun::x86
