// Loads a Linux kernel into guest memory for 64-bit entry: either a bzImage
// (the protected-mode part at 1 MiB, entered at startup_64 = load + 0x200) or
// an uncompressed ELF vmlinux (its PT_LOAD segments at their physical
// addresses, entered at the ELF entry point). The file bytes are untrusted:
// every offset and size is checked against the file and guest memory.
#pragma once

#include <asm/bootparam.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "vmm/guest_memory.h"

namespace vmrun::x86 {

struct LoadedKernel {
  uint64_t entry;     // guest-physical 64-bit entry point
  uint64_t end;       // first byte above the loaded image (plus its bss)
  std::optional<setup_header> header;  // bzImage only
  uint64_t initrd_addr_max;            // highest byte an initrd may use
};

// Loads `image` (the whole file) into `mem`.
Result<LoadedKernel> load_kernel(std::span<const uint8_t> image,
                                 const GuestMemory& mem);

// Checks that `path` looks like a kernel we can boot (ELF or bzImage header)
// without loading it, so bad input fails before any VM exists.
Result<void> check_kernel_file(const std::string& path);

// Maps the file at `path` read-only, loads it and unmaps it, so the kernel
// file does not stay resident after boot.
Result<LoadedKernel> load_kernel_file(const std::string& path,
                                      const GuestMemory& mem);

}  // namespace vmrun::x86
