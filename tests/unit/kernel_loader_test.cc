// Kernel loading from a synthetic ELF vmlinux (kernel_loader_images.h): its
// segments land where the boot protocol says, hostile files give an error,
// never a crash or a write outside guest memory, and files that are no
// kernel at all are refused. The bzImage is in kernel_loader_bzimage_test.cc,
// check_kernel_file in kernel_loader_check_test.cc.
#include <elf.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <random>
#include <string>

#include "tests/support/temp_dir.h"
#include "tests/unit/kernel_loader_images.h"
#include "vmm/x86/kernel_loader.h"

namespace vmrun::x86 {
namespace {

// ---- ELF ----

TEST(ElfLoaderTest, SegmentsLandAtPhysicalAddresses) {
  ElfImage elf;
  auto mem = guest();
  auto k = load_kernel(elf.build(), *mem);
  ASSERT_TRUE(k.ok()) << k.error().message();
  EXPECT_EQ(guest_bytes(*mem, kKernelPhys, elf.text_bytes.size()), elf.text_bytes);
  EXPECT_EQ(guest_bytes(*mem, kKernelPhys + 2 * kMiB, elf.data_bytes.size()),
            elf.data_bytes);
  EXPECT_EQ(k->entry, kKernelPhys + 0x10);
  EXPECT_EQ(k->end, kKernelPhys + 2 * kMiB + 0x3000);
  EXPECT_FALSE(k->header.has_value());
  EXPECT_EQ(k->initrd_addr_max, 0x7fffffffu);
}

TEST(ElfLoaderTest, BssIsZeroedOverDirtyMemory) {
  ElfImage elf;
  auto mem = guest();
  const uint64_t bss = kKernelPhys + 2 * kMiB + 0x80;
  auto dirty = mem->slice(kKernelPhys + 2 * kMiB, 0x4000);
  ASSERT_TRUE(dirty.ok());
  std::fill(dirty->begin(), dirty->end(), 0xcc);
  ASSERT_TRUE(load_kernel(elf.build(), *mem).ok());
  EXPECT_EQ(guest_bytes(*mem, bss, 0x3000 - 0x80), Bytes(0x3000 - 0x80, 0));
  // The byte right after memsz is not the loader's.
  EXPECT_EQ(guest_bytes(*mem, kKernelPhys + 2 * kMiB + 0x3000, 1), Bytes{0xcc});
}

TEST(ElfLoaderTest, VirtualEntryIsTranslatedToPhysical) {
  ElfImage elf(kKernelVirt + 0x20);
  auto mem = guest();
  auto k = load_kernel(elf.build(), *mem);
  ASSERT_TRUE(k.ok()) << k.error().message();
  EXPECT_EQ(k->entry, kKernelPhys + 0x20);
  ElfImage in_data(kKernelVirt + 2 * kMiB + 0x40);
  auto k2 = load_kernel(in_data.build(), *mem);
  ASSERT_TRUE(k2.ok());
  EXPECT_EQ(k2->entry, kKernelPhys + 2 * kMiB + 0x40);
}

TEST(ElfLoaderTest, NonLoadSegmentsAreIgnored) {
  ElfImage elf;
  elf.data.p_type = PT_NOTE;
  elf.data.p_paddr = 1ull << 40;  // would not fit if it were loaded
  auto mem = guest();
  auto k = load_kernel(elf.build(), *mem);
  ASSERT_TRUE(k.ok()) << k.error().message();
  EXPECT_EQ(k->end, kKernelPhys + 0x300);
}

TEST(ElfLoaderTest, LoadsFromFile) {
  vmrun::test_support::TempDir dir;
  std::string path = dir.path() + "/vmlinux";
  Bytes image = ElfImage().build();
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(image.data()), image.size());
  auto mem = guest();
  auto k = load_kernel_file(path, *mem);
  EXPECT_TRUE(k.ok()) << k.error().message();
}

// Each hostile ELF is the valid image with one thing broken.
struct ElfCase {
  const char* name;
  void (*breakit)(ElfImage&, Bytes&);
};

const ElfCase kBadElves[] = {
    {"truncated header", [](ElfImage&, Bytes& b) { b.resize(40); }},
    {"truncated program headers",
     [](ElfImage&, Bytes& b) { b.resize(sizeof(Elf64_Ehdr) + 60); }},
    {"segment offset past the end",
     [](ElfImage& e, Bytes& b) {
       e.data.p_offset = 0x100000;
       b = e.build();
     }},
    {"segment size past the end",
     [](ElfImage& e, Bytes& b) {
       e.data.p_filesz = 0x81;
       b = e.build();
     }},
    {"segment size wraps",
     [](ElfImage& e, Bytes& b) {
       e.data.p_filesz = e.data.p_memsz = UINT64_MAX - 0x1000;
       b = e.build();
     }},
    {"filesz above memsz",
     [](ElfImage& e, Bytes& b) {
       e.data.p_memsz = 0x10;
       b = e.build();
     }},
    {"segment above guest memory",
     [](ElfImage& e, Bytes& b) {
       e.data.p_paddr = 1ull << 30;
       b = e.build();
     }},
    {"segment crossing the end of guest memory",
     [](ElfImage& e, Bytes& b) {
       e.data.p_paddr = 64 * kMiB - 0x1000;
       b = e.build();
     }},
    {"segment address wraps",
     [](ElfImage& e, Bytes& b) {
       e.data.p_paddr = UINT64_MAX - 0xff;
       b = e.build();
     }},
    {"huge e_phnum",
     [](ElfImage& e, Bytes& b) {
       e.eh.e_phnum = 0xffff;
       b = e.build();
     }},
    {"no program headers",
     [](ElfImage& e, Bytes& b) {
       e.eh.e_phnum = 0;
       b = e.build();
     }},
    {"wrong e_phentsize",
     [](ElfImage& e, Bytes& b) {
       e.eh.e_phentsize = 32;
       b = e.build();
     }},
    {"program headers past the end",
     [](ElfImage& e, Bytes& b) {
       e.eh.e_phoff = UINT64_MAX - 8;
       put(b, 0, e.eh);  // only the field: build() cannot place them there
     }},
    {"32-bit class",
     [](ElfImage& e, Bytes& b) {
       e.eh.e_ident[EI_CLASS] = ELFCLASS32;
       b = e.build();
     }},
    {"not x86-64",
     [](ElfImage& e, Bytes& b) {
       e.eh.e_machine = EM_AARCH64;
       b = e.build();
     }},
    {"shared object",
     [](ElfImage& e, Bytes& b) {
       e.eh.e_type = ET_DYN;
       b = e.build();
     }},
    {"entry in no segment",
     [](ElfImage& e, Bytes& b) {
       e.eh.e_entry = 0x1234;
       b = e.build();
     }},
};

TEST(ElfLoaderTest, HostileImagesGiveErrors) {
  for (const auto& c : kBadElves) {
    SCOPED_TRACE(c.name);
    ElfImage elf;
    Bytes image = elf.build();
    c.breakit(elf, image);
    auto mem = guest();
    auto k = load_kernel(image, *mem);
    if (k.ok()) {
      ADD_FAILURE() << "hostile image accepted";
      continue;
    }
    EXPECT_FALSE(k.error().message().empty());
  }
}

// ---- not a kernel at all ----

TEST(KernelLoaderTest, NotAKernel) {
  std::mt19937 rng(12345);
  Bytes noise(64 * 1024);
  for (auto& b : noise) b = static_cast<uint8_t>(rng());
  noise[0] = 'X';  // certainly not ELF
  noise[0x202] = 'x';  // certainly not "HdrS"
  auto mem = guest();
  auto k = load_kernel(noise, *mem);
  ASSERT_FALSE(k.ok());
  EXPECT_NE(k.error().message().find("not a Linux kernel"), std::string::npos)
      << k.error().message();
}

TEST(KernelLoaderTest, EmptyAndTinyImages) {
  auto mem = guest();
  EXPECT_FALSE(load_kernel({}, *mem).ok());
  const uint8_t elf_magic[] = {0x7f, 'E', 'L', 'F'};
  EXPECT_FALSE(load_kernel(elf_magic, *mem).ok());
  const uint8_t one[] = {0};
  EXPECT_FALSE(load_kernel(one, *mem).ok());
}

}  // namespace
}  // namespace vmrun::x86
