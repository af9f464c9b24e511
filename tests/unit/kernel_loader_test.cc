// Kernel loading from synthetic images: an ELF vmlinux and a minimal
// bzImage land where the boot protocol says, and hostile files give an
// error, never a crash or a write outside guest memory.
#include <elf.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "vmm/guest_memory.h"
#include "vmm/x86/kernel_loader.h"

#include "tests/support/temp_dir.h"

namespace vmrun::x86 {
namespace {

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kKernelPhys = 16 * kMiB;
constexpr uint64_t kKernelVirt = 0xffffffff81000000ull;

using Bytes = std::vector<uint8_t>;

template <class T>
void put(Bytes& b, size_t at, const T& v) {
  if (b.size() < at + sizeof v) b.resize(at + sizeof v);
  std::memcpy(b.data() + at, &v, sizeof v);
}

Bytes pattern(size_t n, uint8_t seed) {
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

std::unique_ptr<GuestMemory> guest(uint64_t size = 64 * kMiB) {
  auto m = GuestMemory::create({{0, size}});
  EXPECT_TRUE(m.ok());
  return std::move(m).value();
}

Bytes guest_bytes(const GuestMemory& mem, uint64_t gpa, size_t n) {
  Bytes b(n);
  EXPECT_TRUE(mem.read(gpa, b).ok());
  return b;
}

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

// ---- bzImage ----

TEST(BzImageLoaderTest, PayloadLandsAtOneMiB) {
  BzImage bz;
  auto mem = guest();
  auto k = load_kernel(bz.build(), *mem);
  ASSERT_TRUE(k.ok()) << k.error().message();
  EXPECT_EQ(guest_bytes(*mem, 0x100000, bz.payload.size()), bz.payload);
  EXPECT_EQ(k->entry, 0x100200u);  // startup_64
  EXPECT_EQ(k->end, 0x100000u + 0x200000u);  // init_size is the footprint
  ASSERT_TRUE(k->header.has_value());
  EXPECT_EQ(k->header->setup_sects, 4);
  EXPECT_EQ(k->header->version, 0x020f);
  EXPECT_EQ(k->header->init_size, 0x200000u);
  EXPECT_EQ(k->initrd_addr_max, 0x7fffffffu);
  // The setup sectors stay out of guest memory at 1 MiB.
  EXPECT_EQ(guest_bytes(*mem, 0x100000 + bz.payload.size(), 1), Bytes{0});
}

TEST(BzImageLoaderTest, OtherSetupSizes) {
  for (uint8_t sects : {1, 30}) {
    BzImage bz;
    bz.hdr.setup_sects = sects;
    auto mem = guest();
    auto k = load_kernel(bz.build(), *mem);
    ASSERT_TRUE(k.ok()) << k.error().message();
    EXPECT_EQ(guest_bytes(*mem, 0x100000, bz.payload.size()), bz.payload)
        << int{sects};
  }
}

TEST(BzImageLoaderTest, ZeroSetupSectsMeansFour) {
  BzImage bz;
  Bytes image = bz.build();  // built with 4 setup sectors
  bz.hdr.setup_sects = 0;
  put(image, 0x1f1, bz.hdr);
  auto mem = guest();
  auto k = load_kernel(image, *mem);
  ASSERT_TRUE(k.ok()) << k.error().message();
  EXPECT_EQ(guest_bytes(*mem, 0x100000, bz.payload.size()), bz.payload);
}

TEST(BzImageLoaderTest, PayloadLargerThanInitSize) {
  BzImage bz;
  bz.hdr.init_size = 0x100;
  auto mem = guest();
  auto k = load_kernel(bz.build(), *mem);
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->end, 0x100000u + bz.payload.size());
}

TEST(BzImageLoaderTest, HostileImagesGiveErrors) {
  auto mem = guest();
  {
    SCOPED_TRACE("no 64-bit entry");
    BzImage bz;
    bz.hdr.xloadflags = 0;
    EXPECT_FALSE(load_kernel(bz.build(), *mem).ok());
  }
  {
    SCOPED_TRACE("old boot protocol");
    BzImage bz;
    bz.hdr.version = 0x020b;
    EXPECT_FALSE(load_kernel(bz.build(), *mem).ok());
  }
  {
    SCOPED_TRACE("setup only, no payload");
    BzImage bz;
    bz.payload.clear();
    EXPECT_FALSE(load_kernel(bz.build(), *mem).ok());
  }
  {
    SCOPED_TRACE("setup_sects past the end of the file");
    BzImage bz;
    Bytes image = bz.build();
    bz.hdr.setup_sects = 200;
    put(image, 0x1f1, bz.hdr);
    EXPECT_FALSE(load_kernel(image, *mem).ok());
  }
  {
    SCOPED_TRACE("truncated inside the setup header");
    Bytes image = BzImage().build();
    image.resize(0x210);
    EXPECT_FALSE(load_kernel(image, *mem).ok());
  }
  {
    SCOPED_TRACE("init_size larger than guest memory");
    BzImage bz;
    bz.hdr.init_size = 0xffffffff;
    auto k = load_kernel(bz.build(), *mem);
    ASSERT_FALSE(k.ok());
    EXPECT_NE(k.error().message().find("MiB"), std::string::npos)
        << k.error().message();
  }
  {
    SCOPED_TRACE("payload larger than guest memory");
    BzImage bz;
    bz.payload.assign(3 * kMiB + 1, 0x90);  // 1 MiB + this > 4 MiB
    auto small = guest(4 * kMiB);
    EXPECT_FALSE(load_kernel(bz.build(), *small).ok());
  }
}

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

// ---- check_kernel_file ----

class CheckKernelFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/check_kernel_file_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string write(const std::string& name, const Bytes& bytes) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return path;
  }
  std::string dir_;
};

TEST_F(CheckKernelFileTest, AcceptsElfAndBzImage) {
  auto elf = check_kernel_file(write("vmlinux", ElfImage().build()));
  EXPECT_TRUE(elf.ok()) << elf.error().message();
  auto bz = check_kernel_file(write("bzImage", BzImage().build()));
  EXPECT_TRUE(bz.ok()) << bz.error().message();
}

TEST_F(CheckKernelFileTest, RejectsTextFile) {
  std::string text = "#!/bin/sh\necho this is not a kernel\n";
  std::string path = write("notes.txt", Bytes(text.begin(), text.end()));
  auto r = check_kernel_file(path);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find(path), std::string::npos);
  EXPECT_NE(r.error().message().find("not a Linux kernel"), std::string::npos)
      << r.error().message();
}

TEST_F(CheckKernelFileTest, RejectsEmptyFile) {
  EXPECT_FALSE(check_kernel_file(write("empty", {})).ok());
}

TEST_F(CheckKernelFileTest, Rejects32BitElf) {
  ElfImage elf;
  elf.eh.e_ident[EI_CLASS] = ELFCLASS32;
  elf.eh.e_machine = EM_386;
  auto r = check_kernel_file(write("vmlinux32", elf.build()));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("x86-64"), std::string::npos)
      << r.error().message();
}

// The early check exists so that bad input fails before any VM (and before
// the KVM host checks); a bzImage that load_kernel would refuse for lack of
// a 64-bit entry point is such input.
TEST_F(CheckKernelFileTest, RejectsBzImageWithout64BitEntry) {
  BzImage no64;
  no64.hdr.xloadflags = 0;
  EXPECT_FALSE(check_kernel_file(write("bzImage-32", no64.build())).ok());
  BzImage old;
  old.hdr.version = 0x020a;
  EXPECT_FALSE(check_kernel_file(write("bzImage-old", old.build())).ok());
}

TEST_F(CheckKernelFileTest, MissingFileNamesThePath) {
  std::string path = dir_ + "/no-such-kernel";
  auto r = check_kernel_file(path);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find(path), std::string::npos)
      << r.error().message();
}

TEST_F(CheckKernelFileTest, DirectoryIsRejected) {
  EXPECT_FALSE(check_kernel_file(dir_).ok());
}

TEST_F(CheckKernelFileTest, LoadKernelFileErrorsNameThePath) {
  std::string empty = write("empty", {});
  auto mem = guest();
  auto r = load_kernel_file(empty, *mem);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find(empty), std::string::npos);
  std::string text = write("text", Bytes(5000, 'a'));
  auto t = load_kernel_file(text, *mem);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message().find(text), std::string::npos);
}

}  // namespace
}  // namespace vmrun::x86
