// libFuzzer: arbitrary bytes as a kernel file. load_kernel must either load
// within guest memory or return an error; ASan catches any stray access.
#include <cstddef>
#include <cstdint>

#include "vmm/guest_memory.h"
#include "vmm/x86/kernel_loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Two regions with a hole, like a real guest, but small enough to be fast.
  static auto memory = vmrun::GuestMemory::create(
      {{0, 32ull << 20}, {64ull << 20, 4ull << 20}});
  if (!memory) return 0;
  (void)vmrun::x86::load_kernel({data, size}, *memory.value());
  return 0;
}
