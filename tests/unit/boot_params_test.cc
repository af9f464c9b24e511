// The zero page: e820 map, RAM regions, setup header and initrd placement
// (vmm/x86/boot_params.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "vmm/x86/boot_params.h"
#include "vmm/x86/layout.h"

namespace vmrun::x86 {
namespace {

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kGiB = 1ull << 30;

uint64_t ram_total(const std::vector<E820Entry>& map) {
  uint64_t sum = 0;
  for (const auto& e : map) {
    if (e.type == kE820Ram) sum += e.size;
  }
  return sum;
}

// Sorted by address, no empty entries, no overlap.
void expect_well_formed(const std::vector<E820Entry>& map) {
  for (size_t i = 0; i < map.size(); ++i) {
    EXPECT_GT(map[i].size, 0u) << "entry " << i;
    if (i > 0) {
      EXPECT_GE(map[i].addr, map[i - 1].addr + map[i - 1].size)
          << "entry " << i << " overlaps or is out of order";
    }
  }
}

class E820Test : public ::testing::TestWithParam<uint64_t> {};

TEST_P(E820Test, CoversAllRamOnceAroundTheHoles) {
  const uint64_t mem = GetParam();
  auto map = e820_map(mem);
  expect_well_formed(map);
  // Everything is RAM except 0x9c000-0x100000 (MP table, EBDA, ROM area).
  EXPECT_EQ(ram_total(map), mem - (kHighMemAddr - kMpTableAddr));
  for (const auto& e : map) {
    if (e.type != kE820Ram) continue;
    // No RAM in the MMIO hole, nor where the MP table lives.
    EXPECT_TRUE(e.addr + e.size <= kMmioHoleStart || e.addr >= kMmioHoleEnd)
        << std::hex << e.addr;
    EXPECT_TRUE(e.addr + e.size <= kMpTableAddr || e.addr >= kHighMemAddr)
        << std::hex << e.addr;
  }
  // The MP table area is reserved, so Linux does not reuse it.
  bool mp_reserved = std::any_of(map.begin(), map.end(), [](const E820Entry& e) {
    return e.type == kE820Reserved && e.addr <= kMpTableAddr &&
           e.addr + e.size >= kMpFloatingAddr + 16;
  });
  EXPECT_TRUE(mp_reserved);
}

TEST_P(E820Test, RamRegionsMatchE820AboveOneMiB) {
  const uint64_t mem = GetParam();
  auto regions = ram_regions(mem);
  uint64_t total = 0;
  for (auto [gpa, size] : regions) total += size;
  EXPECT_EQ(total, mem);
  // Every e820 RAM byte is backed by a region...
  for (const auto& e : e820_map(mem)) {
    if (e.type != kE820Ram) continue;
    bool backed = std::any_of(regions.begin(), regions.end(), [&](auto r) {
      return e.addr >= r.first && e.addr + e.size <= r.first + r.second;
    });
    EXPECT_TRUE(backed) << std::hex << e.addr;
  }
  // ...and above 1 MiB the regions are exactly the e820 RAM entries.
  std::vector<std::pair<uint64_t, uint64_t>> high_ram;
  for (const auto& e : e820_map(mem)) {
    if (e.type == kE820Ram && e.addr >= kHighMemAddr) {
      high_ram.emplace_back(e.addr, e.size);
    }
  }
  std::vector<std::pair<uint64_t, uint64_t>> high_regions;
  for (auto [gpa, size] : regions) {
    uint64_t end = gpa + size;
    if (end <= kHighMemAddr) continue;
    uint64_t start = std::max(gpa, kHighMemAddr);
    high_regions.emplace_back(start, end - start);
  }
  EXPECT_EQ(high_regions, high_ram);
}

INSTANTIATE_TEST_SUITE_P(Sizes, E820Test,
                         ::testing::Values(256 * kMiB, 3 * kGiB, 4 * kGiB,
                                           3 * kGiB + 512 * kMiB, 16 * kGiB));

TEST(E820MapTest, SmallGuestHasNoHighRam) {
  auto map = e820_map(256 * kMiB);
  ASSERT_EQ(map.size(), 3u);
  EXPECT_EQ(map[0].addr, 0u);
  EXPECT_EQ(map[0].size, kMpTableAddr);
  EXPECT_EQ(map[0].type, kE820Ram);
  EXPECT_EQ(map[1].type, kE820Reserved);
  EXPECT_EQ(map[2].addr, kHighMemAddr);
  EXPECT_EQ(map[2].addr + map[2].size, 256 * kMiB);
  EXPECT_EQ(ram_regions(256 * kMiB),
            (std::vector<std::pair<uint64_t, uint64_t>>{{0, 256 * kMiB}}));
}

TEST(E820MapTest, ExactlyHoleStartHasNoHighRam) {
  auto map = e820_map(3 * kGiB);
  ASSERT_EQ(map.size(), 3u);
  EXPECT_EQ(map[2].addr + map[2].size, 3 * kGiB);
  EXPECT_EQ(ram_regions(3 * kGiB).size(), 1u);
}

TEST(E820MapTest, FourGiBSplitsAroundTheHole) {
  auto map = e820_map(4 * kGiB);
  ASSERT_EQ(map.size(), 4u);
  EXPECT_EQ(map[2].addr + map[2].size, kMmioHoleStart);
  EXPECT_EQ(map[3].addr, 4 * kGiB);
  EXPECT_EQ(map[3].size, 4 * kGiB - kMmioHoleStart);
  EXPECT_EQ(map[3].type, kE820Ram);
  auto regions = ram_regions(4 * kGiB);
  ASSERT_EQ(regions.size(), 2u);
  EXPECT_EQ(regions[0], (std::pair<uint64_t, uint64_t>{0, kMmioHoleStart}));
  EXPECT_EQ(regions[1],
            (std::pair<uint64_t, uint64_t>{4 * kGiB, 4 * kGiB - kMmioHoleStart}));
}

// ---- make_boot_params ----

TEST(MakeBootParamsTest, SynthesizesHeaderForElfKernel) {
  auto p = make_boot_params(std::nullopt, 256 * kMiB, kCmdlineAddr, 100,
                            std::nullopt);
  ASSERT_TRUE(p.ok()) << p.error().message();
  const setup_header& h = p->hdr;
  EXPECT_EQ(h.boot_flag, 0xaa55);
  EXPECT_EQ(std::memcmp(&h.header, "HdrS", 4), 0);
  EXPECT_GE(h.version, 0x0206);  // has cmdline_size
  EXPECT_EQ(h.type_of_loader, 0xff);
  EXPECT_TRUE(h.loadflags & 0x01);  // LOADED_HIGH
  EXPECT_EQ(h.cmd_line_ptr, kCmdlineAddr);
  EXPECT_EQ(p->ext_cmd_line_ptr, 0u);
  EXPECT_EQ(h.cmdline_size, 100u);
  EXPECT_EQ(h.ramdisk_image, 0u);
  EXPECT_EQ(h.ramdisk_size, 0u);
}

TEST(MakeBootParamsTest, KeepsTheKernelsHeaderFields) {
  setup_header kernel{};
  kernel.setup_sects = 27;
  kernel.boot_flag = 0xaa55;
  kernel.header = 0x53726448;
  kernel.version = 0x020f;
  kernel.xloadflags = 0x7f;
  kernel.init_size = 0x2345000;
  kernel.kernel_alignment = 0x200000;
  kernel.initrd_addr_max = 0x7fffffff;
  kernel.loadflags = 0x20;  // QUIET_FLAG, set by the kernel's build
  kernel.type_of_loader = 0x00;
  auto p = make_boot_params(kernel, 512 * kMiB, kCmdlineAddr, 2048,
                            std::nullopt);
  ASSERT_TRUE(p.ok());
  const setup_header& h = p->hdr;
  EXPECT_EQ(h.setup_sects, 27);
  EXPECT_EQ(h.version, 0x020f);
  EXPECT_EQ(h.xloadflags, 0x7f);
  EXPECT_EQ(h.init_size, 0x2345000u);
  EXPECT_EQ(h.kernel_alignment, 0x200000u);
  EXPECT_EQ(h.initrd_addr_max, 0x7fffffffu);
  EXPECT_EQ(h.loadflags, 0x21);  // kernel's flags kept, LOADED_HIGH added
  EXPECT_EQ(h.type_of_loader, 0xff);
  EXPECT_EQ(h.cmd_line_ptr, kCmdlineAddr);
  EXPECT_EQ(h.cmdline_size, 2048u);
}

TEST(MakeBootParamsTest, RamdiskFields) {
  auto p = make_boot_params(std::nullopt, 256 * kMiB, kCmdlineAddr, 10,
                            InitrdPlacement{0x0f000000, 0x123456});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->hdr.ramdisk_image, 0x0f000000u);
  EXPECT_EQ(p->hdr.ramdisk_size, 0x123456u);
  EXPECT_EQ(p->ext_ramdisk_image, 0u);
  EXPECT_EQ(p->ext_ramdisk_size, 0u);
}

TEST(MakeBootParamsTest, ExtFieldsCarryHighBitsAbove4GiB) {
  auto p = make_boot_params(std::nullopt, 8 * kGiB, 0x123456789ull, 10,
                            InitrdPlacement{0x1'2345'6000ull, 0x2'0000'1000ull});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->hdr.cmd_line_ptr, 0x23456789u);
  EXPECT_EQ(p->ext_cmd_line_ptr, 0x1u);
  EXPECT_EQ(p->hdr.ramdisk_image, 0x23456000u);
  EXPECT_EQ(p->ext_ramdisk_image, 0x1u);
  EXPECT_EQ(p->hdr.ramdisk_size, 0x00001000u);
  EXPECT_EQ(p->ext_ramdisk_size, 0x2u);
}

TEST(MakeBootParamsTest, CarriesTheE820Map) {
  for (uint64_t mem : {256 * kMiB, 4 * kGiB}) {
    auto p = make_boot_params(std::nullopt, mem, kCmdlineAddr, 10, std::nullopt);
    ASSERT_TRUE(p.ok());
    auto map = e820_map(mem);
    ASSERT_EQ(p->e820_entries, map.size());
    for (size_t i = 0; i < map.size(); ++i) {
      EXPECT_EQ(p->e820_table[i].addr, map[i].addr);
      EXPECT_EQ(p->e820_table[i].size, map[i].size);
      EXPECT_EQ(p->e820_table[i].type, map[i].type);
    }
  }
}

// ---- initrd_address ----

TEST(InitrdAddressTest, TopOfLowRamPageAligned) {
  auto a = initrd_address(256 * kMiB, 0x1800, 0x7fffffff, 16 * kMiB);
  ASSERT_TRUE(a.ok()) << a.error().message();
  EXPECT_EQ(a.value() % 4096, 0u);
  EXPECT_EQ(a.value(), 256 * kMiB - 0x2000);
  EXPECT_LE(a.value() + 0x1800, 256 * kMiB);
}

TEST(InitrdAddressTest, StaysBelowAddrMax) {
  // 4 GiB guest: low RAM ends at 3 GiB, but the kernel allows only 2 GiB.
  auto a = initrd_address(4 * kGiB, 10 * kMiB, 0x7fffffff, 16 * kMiB);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a.value(), 0x80000000 - 10 * kMiB);
  // And below low RAM's end when that is lower than addr_max.
  auto b = initrd_address(4 * kGiB, 10 * kMiB, 0xffffffff, 16 * kMiB);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b.value(), kMmioHoleStart - 10 * kMiB);
}

TEST(InitrdAddressTest, UnalignedAddrMaxRoundsDown) {
  auto a = initrd_address(256 * kMiB, 0x1000, 0x37ffffff + 0x123, 16 * kMiB);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a.value() % 4096, 0u);
  EXPECT_LE(a.value() + 0x1000 - 1, 0x37ffffffu + 0x123);
}

TEST(InitrdAddressTest, FailsWhenTooBig) {
  auto a = initrd_address(64 * kMiB, 100 * kMiB, 0x7fffffff, 16 * kMiB);
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.error().message().find("-m"), std::string::npos)
      << a.error().message();
}

TEST(InitrdAddressTest, FailsWhenItWouldOverlapTheKernel) {
  // 64 MiB guest, kernel ends at 40 MiB: 24 MiB fits, 25 MiB does not.
  EXPECT_TRUE(initrd_address(64 * kMiB, 24 * kMiB, 0x7fffffff, 40 * kMiB).ok());
  EXPECT_FALSE(initrd_address(64 * kMiB, 25 * kMiB, 0x7fffffff, 40 * kMiB).ok());
}

// Rounding down to a page must not push the initrd below the kernel's end.
TEST(InitrdAddressTest, AlignmentDoesNotGoBelowKernelEnd) {
  const uint64_t kernel_end = 0x2000800;  // not page aligned
  const uint64_t size = 64 * kMiB - kernel_end;  // fits exactly, unaligned
  auto a = initrd_address(64 * kMiB, size, 0x7fffffff, kernel_end);
  if (a.ok()) {
    EXPECT_GE(a.value(), kernel_end) << "initrd placed over the kernel";
  }
}

}  // namespace
}  // namespace vmrun::x86
