// An Intel MultiProcessor Specification 1.4 table: how Linux learns the CPU
// count, the IOAPIC and the ISA interrupt routing when there is no ACPI.
#pragma once

#include <cstdint>
#include <vector>

#include "vmm/guest_memory.h"

namespace vmrun::x86 {

constexpr int kMaxMpCpus = 254;  // APIC IDs are 8 bits; one is the IOAPIC's

struct MpTable {
  std::vector<uint8_t> floating;  // 16 bytes, for kMpFloatingAddr
  std::vector<uint8_t> config;    // the configuration table, for kMpTableAddr
};

// The IOAPIC pin (= GSI) that PCI slot `slot`'s INTA# is wired to: pins
// 16-23, shared round-robin, as the MP table tells the guest.
uint32_t pci_intx_gsi(int slot);

MpTable build_mptable(uint64_t config_addr, int num_cpus);

// Writes both parts at layout.h's addresses.
Result<void> write_mptable(const GuestMemory& mem, int num_cpus);

}  // namespace vmrun::x86
