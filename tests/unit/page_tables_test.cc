// The boot page tables: walked the way the MMU walks them (4-level paging,
// 2 MiB pages), every address checked must translate to itself.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <optional>

#include "vmm/guest_memory.h"
#include "vmm/x86/layout.h"
#include "vmm/x86/page_tables.h"

namespace vmrun::x86 {
namespace {

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kGiB = 1ull << 30;
constexpr uint64_t kPresent = 1, kWritable = 2, kHuge = 0x80;
constexpr uint64_t kAddrMask = 0x000ffffffffff000ull;

struct Translation {
  uint64_t phys;
  uint64_t pde;  // the leaf entry
};

uint64_t entry(const GuestMemory& mem, uint64_t table, uint64_t index) {
  uint64_t e = 0;
  EXPECT_TRUE(
      mem.read(table + index * 8, {reinterpret_cast<uint8_t*>(&e), 8}).ok());
  return e;
}

// Walks PML4 -> PDPT -> PD for a 2 MiB leaf; nullopt on a non-present entry.
std::optional<Translation> translate(const GuestMemory& mem, uint64_t cr3,
                                     uint64_t va) {
  uint64_t pml4e = entry(mem, cr3 & kAddrMask, (va >> 39) & 511);
  if (!(pml4e & kPresent)) return std::nullopt;
  uint64_t pdpte = entry(mem, pml4e & kAddrMask, (va >> 30) & 511);
  if (!(pdpte & kPresent)) return std::nullopt;
  EXPECT_FALSE(pdpte & kHuge) << "unexpected 1 GiB page";
  uint64_t pde = entry(mem, pdpte & kAddrMask, (va >> 21) & 511);
  if (!(pde & kPresent)) return std::nullopt;
  EXPECT_TRUE(pde & kHuge) << "expected a 2 MiB page";
  uint64_t base = pde & kAddrMask & ~((2 * kMiB) - 1);
  return Translation{base + (va & (2 * kMiB - 1)), pde};
}

class PageTablesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto m = GuestMemory::create({{0, 64 * kMiB}});
    ASSERT_TRUE(m.ok()) << m.error().message();
    mem_ = std::move(m).value();
    auto cr3 = write_identity_page_tables(*mem_);
    ASSERT_TRUE(cr3.ok()) << cr3.error().message();
    cr3_ = cr3.value();
  }
  std::unique_ptr<GuestMemory> mem_;
  uint64_t cr3_ = 0;
};

TEST_F(PageTablesTest, ReturnsPml4AddressAsCr3) {
  EXPECT_EQ(cr3_, 0x9000u);
  EXPECT_EQ(cr3_, kPml4Addr);
}

TEST_F(PageTablesTest, IdentityMapsTheFirstFourGiB) {
  for (uint64_t va : {uint64_t{0}, uint64_t{0x7000}, 2 * kMiB, 16 * kMiB + 0x200,
                      1 * kGiB + 6 * kMiB, 1 * kGiB + 6 * kMiB + 0x1234,
                      3 * kGiB + 5, 4 * kGiB - 2 * kMiB, 4 * kGiB - 1}) {
    auto t = translate(*mem_, cr3_, va);
    ASSERT_TRUE(t.has_value()) << std::hex << va;
    EXPECT_EQ(t->phys, va) << std::hex << va;
    EXPECT_EQ(t->pde & (kPresent | kWritable | kHuge),
              kPresent | kWritable | kHuge)
        << std::hex << va;
  }
}

TEST_F(PageTablesTest, UpperLevelsArePresentAndWritable) {
  uint64_t pml4e = entry(*mem_, cr3_, 0);
  EXPECT_EQ(pml4e & (kPresent | kWritable), kPresent | kWritable);
  for (uint64_t i = 0; i < 4; ++i) {
    uint64_t pdpte = entry(*mem_, pml4e & kAddrMask, i);
    EXPECT_EQ(pdpte & (kPresent | kWritable), kPresent | kWritable) << i;
  }
}

TEST_F(PageTablesTest, NothingAboveFourGiBIsMapped) {
  EXPECT_FALSE(translate(*mem_, cr3_, 4 * kGiB).has_value());
  EXPECT_FALSE(translate(*mem_, cr3_, 512 * kGiB).has_value());  // PML4 slot 1
}

// The tables must stay clear of what else goes into low memory.
TEST_F(PageTablesTest, TablesAvoidZeroPageAndCommandLine) {
  const uint64_t tables_end = kPdAddr + 4 * 4096;
  EXPECT_GE(kPml4Addr, kZeroPageAddr + 4096);
  EXPECT_LE(tables_end, kCmdlineAddr);
  EXPECT_LE(tables_end, kMpTableAddr);
}

TEST(PageTablesNoRoomTest, FailsOnTooSmallMemory) {
  auto m = GuestMemory::create({{0, 0xa000}});  // PML4 fits, PDPT does not
  ASSERT_TRUE(m.ok());
  EXPECT_FALSE(write_identity_page_tables(*m.value()).ok());
}

}  // namespace
}  // namespace vmrun::x86
