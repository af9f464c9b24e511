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

// Where the image's bytes come from: memory (tests, fuzzing) or a file.
class ImageReader {
 public:
  virtual ~ImageReader() = default;
  virtual uint64_t size() const = 0;
  // Reads exactly out.size() bytes at offset; the caller checks the range.
  virtual Result<void> read(uint64_t offset, std::span<uint8_t> out) const = 0;
};

Result<LoadedKernel> load_kernel(const ImageReader& image,
                                 const GuestMemory& mem);
// Loads `image` (the whole file, in memory) into `mem`.
Result<LoadedKernel> load_kernel(std::span<const uint8_t> image,
                                 const GuestMemory& mem);

// Checks that `path` looks like a kernel we can boot (ELF or bzImage header)
// without loading it, so bad input fails before any VM exists.
Result<void> check_kernel_file(const std::string& path);

// Reads the file at `path` straight into guest memory (pread): no copy of
// the kernel stays in, or ever passes through, vmrun's own memory.
Result<LoadedKernel> load_kernel_file(const std::string& path,
                                      const GuestMemory& mem);

}  // namespace vmrun::x86
