#include "vmm/x86/page_tables.h"

#include "vmm/x86/layout.h"

namespace vmrun::x86 {
namespace {
constexpr uint64_t kPresent = 1, kWritable = 2, kHuge = 0x80;
constexpr uint64_t kPageSize2M = 2ull << 20;
constexpr uint64_t kEntriesPerTable = 512;
}  // namespace

Result<uint64_t> write_identity_page_tables(const GuestMemory& mem) {
  VMRUN_TRY(mem.write_obj(kPml4Addr, kPdptAddr | kPresent | kWritable));
  constexpr uint64_t kPds = kIdentityMappedBytes / (kPageSize2M * kEntriesPerTable);
  for (uint64_t pd = 0; pd < kPds; ++pd) {
    uint64_t pd_addr = kPdAddr + pd * 4096;
    VMRUN_TRY(mem.write_obj(kPdptAddr + pd * 8, pd_addr | kPresent | kWritable));
    for (uint64_t i = 0; i < kEntriesPerTable; ++i) {
      uint64_t phys = (pd * kEntriesPerTable + i) * kPageSize2M;
      VMRUN_TRY(mem.write_obj(pd_addr + i * 8,
                              phys | kPresent | kWritable | kHuge));
    }
  }
  return kPml4Addr;
}

}  // namespace vmrun::x86
