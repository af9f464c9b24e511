// Identity-mapped page tables for entering the kernel in long mode: the
// first 4 GiB with 2 MiB pages, which covers the kernel, the zero page,
// the command line and the initrd wherever we put them.
#pragma once

#include "vmm/guest_memory.h"

namespace vmrun::x86 {

constexpr uint64_t kIdentityMappedBytes = 4ull << 30;

// Writes PML4, PDPT and PDs at layout.h's addresses; returns CR3.
Result<uint64_t> write_identity_page_tables(const GuestMemory& mem);

}  // namespace vmrun::x86
