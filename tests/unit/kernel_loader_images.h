// Synthetic kernel images for the kernel loader tests (kernel_loader_test.cc,
// kernel_loader_bzimage_test.cc, kernel_loader_check_test.cc): an ELF
// vmlinux and a minimal bzImage, each valid until a test breaks it, and
// guest memory to load them into. Header-only.
#pragma once

#include <elf.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "vmm/guest_memory.h"
#include "vmm/x86/kernel_loader.h"

namespace vmrun::x86 {

inline constexpr uint64_t kMiB = 1ull << 20;
inline constexpr uint64_t kKernelPhys = 16 * kMiB;
inline constexpr uint64_t kKernelVirt = 0xffffffff81000000ull;

using Bytes = std::vector<uint8_t>;

template <class T>
void put(Bytes& b, size_t at, const T& v) {
  if (b.size() < at + sizeof v) b.resize(at + sizeof v);
  std::memcpy(b.data() + at, &v, sizeof v);
}

inline Bytes pattern(size_t n, uint8_t seed) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(seed + i * 7);
  return b;
}

// An ELF64 x86-64 ET_EXEC vmlinux with two PT_LOAD segments:
// text (0x300 bytes at 16 MiB) and data (0x80 bytes of file, 0x3000 in
// memory: the rest is bss) at 16 MiB + 2 MiB.
struct ElfImage {
  Bytes bytes;
  Elf64_Ehdr eh{};
  Elf64_Phdr text{}, data{};
  Bytes text_bytes = pattern(0x300, 1);
  Bytes data_bytes = pattern(0x80, 100);

  explicit ElfImage(uint64_t entry = kKernelPhys + 0x10) {
    std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_EXEC;
    eh.e_machine = EM_X86_64;
    eh.e_version = EV_CURRENT;
    eh.e_entry = entry;
    eh.e_phoff = sizeof(Elf64_Ehdr);
    eh.e_ehsize = sizeof(Elf64_Ehdr);
    eh.e_phentsize = sizeof(Elf64_Phdr);
    eh.e_phnum = 2;
    text.p_type = PT_LOAD;
    text.p_offset = 0x1000;
    text.p_paddr = kKernelPhys;
    text.p_vaddr = kKernelVirt;
    text.p_filesz = text.p_memsz = text_bytes.size();
    data.p_type = PT_LOAD;
    data.p_offset = 0x1300;
    data.p_paddr = kKernelPhys + 2 * kMiB;
    data.p_vaddr = kKernelVirt + 2 * kMiB;
    data.p_filesz = data_bytes.size();
    data.p_memsz = 0x3000;
  }

  Bytes build() const {
    Bytes b;
    put(b, 0, eh);
    put(b, eh.e_phoff, text);
    put(b, eh.e_phoff + sizeof(Elf64_Phdr), data);
    b.resize(0x1000);
    b.insert(b.end(), text_bytes.begin(), text_bytes.end());
    b.insert(b.end(), data_bytes.begin(), data_bytes.end());
    return b;
  }
};

// A bzImage: boot sector and setup (setup_sects + 1 sectors), then the
// protected-mode payload that goes to 1 MiB.
struct BzImage {
  setup_header hdr{};
  Bytes payload = pattern(0x1400, 33);

  BzImage() {
    hdr.setup_sects = 4;
    hdr.boot_flag = 0xaa55;
    hdr.header = 0x53726448;  // "HdrS"
    hdr.version = 0x020f;
    hdr.xloadflags = 0x1;  // XLF_KERNEL_64
    hdr.init_size = 0x200000;
    hdr.initrd_addr_max = 0x7fffffff;
  }

  Bytes build() const {
    Bytes b((hdr.setup_sects + 1) * 512, 0);
    put(b, 0x1f1, hdr);
    b.insert(b.end(), payload.begin(), payload.end());
    return b;
  }
};

inline std::unique_ptr<GuestMemory> guest(uint64_t size = 64 * kMiB) {
  auto m = GuestMemory::create({{0, size}});
  EXPECT_TRUE(m.ok());
  return std::move(m).value();
}

inline Bytes guest_bytes(const GuestMemory& mem, uint64_t gpa, size_t n) {
  Bytes b(n);
  EXPECT_TRUE(mem.read(gpa, b).ok());
  return b;
}

}  // namespace vmrun::x86
