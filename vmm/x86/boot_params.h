// The Linux zero page (struct boot_params): the setup header, the command
// line and initrd pointers, and the e820 memory map.
#pragma once

#include <asm/bootparam.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "vmm/result.h"

namespace vmrun::x86 {

struct E820Entry {
  uint64_t addr;
  uint64_t size;
  uint32_t type;  // E820_TYPE_RAM = 1, reserved = 2
};

constexpr uint32_t kE820Ram = 1;
constexpr uint32_t kE820Reserved = 2;

// The e820 map for `mem_size` bytes of RAM: base memory below the MP table,
// the MP table reserved, RAM from 1 MiB to the MMIO hole, the rest at 4 GiB.
std::vector<E820Entry> e820_map(uint64_t mem_size);

// Guest-physical (gpa, size) RAM regions matching e820_map.
std::vector<std::pair<uint64_t, uint64_t>> ram_regions(uint64_t mem_size);

struct InitrdPlacement {
  uint64_t addr;
  uint64_t size;
};

// Fills a zero page. `header` is the kernel's own setup header (bzImage) or
// nullopt for an ELF vmlinux, for which a minimal header is synthesized.
Result<boot_params> make_boot_params(
    const std::optional<setup_header>& header, uint64_t mem_size,
    uint64_t cmdline_addr, uint32_t cmdline_size,
    std::optional<InitrdPlacement> initrd);

// Highest page-aligned address at which an initrd of `size` bytes fits below
// both the end of low RAM and `addr_max` and above `min_addr`.
Result<uint64_t> initrd_address(uint64_t mem_size, uint64_t size,
                                uint64_t addr_max, uint64_t min_addr);

}  // namespace vmrun::x86
