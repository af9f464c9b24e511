// GuestMemory::slice/read/write: every guest address is checked, so a bad
// guest address is an Error and never a host access (vmm/guest_memory.h).
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "vmm/guest_memory.h"
#include "vmm/x86/boot_params.h"

namespace vmrun {
namespace {

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kGiB = 1ull << 30;

std::unique_ptr<GuestMemory> make(
    const std::vector<std::pair<uint64_t, uint64_t>>& layout) {
  auto mem = GuestMemory::create(layout);
  EXPECT_TRUE(mem.ok()) << mem.error().message();
  return mem.ok() ? std::move(mem).value() : nullptr;
}

TEST(GuestMemoryTest, CreateReportsRegionsAndSize) {
  auto mem = make({{0, 16 * kMiB}, {4 * kGiB, 8 * kMiB}});
  ASSERT_NE(mem, nullptr);
  ASSERT_EQ(mem->regions().size(), 2u);
  EXPECT_EQ(mem->regions()[0].gpa, 0u);
  EXPECT_EQ(mem->regions()[0].size, 16 * kMiB);
  EXPECT_EQ(mem->regions()[1].gpa, 4 * kGiB);
  EXPECT_EQ(mem->total_size(), 24 * kMiB);
}

TEST(GuestMemoryTest, CreateRejectsEmptyAndWrappingRegions) {
  EXPECT_FALSE(GuestMemory::create({{0, 0}}).ok());
  EXPECT_FALSE(GuestMemory::create({{UINT64_MAX - 0xfff, 0x2000}}).ok());
}

TEST(GuestMemoryTest, SliceInsideRegion) {
  auto mem = make({{0, 16 * kMiB}});
  ASSERT_NE(mem, nullptr);
  auto s = mem->slice(0x1000, 0x200);
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_EQ(s->size(), 0x200u);
  EXPECT_EQ(s->data(), mem->regions()[0].host + 0x1000);
}

TEST(GuestMemoryTest, SliceEndingExactlyAtRegionEnd) {
  auto mem = make({{0, 16 * kMiB}});
  ASSERT_NE(mem, nullptr);
  auto whole = mem->slice(0, 16 * kMiB);
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(whole->size(), 16 * kMiB);
  auto last = mem->slice(16 * kMiB - 1, 1);
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(last->data(), mem->regions()[0].host + 16 * kMiB - 1);
}

TEST(GuestMemoryTest, ZeroLengthSlices) {
  auto mem = make({{0, 16 * kMiB}});
  ASSERT_NE(mem, nullptr);
  EXPECT_TRUE(mem->slice(0, 0).ok());
  EXPECT_TRUE(mem->slice(16 * kMiB, 0).ok());  // empty range at the end
  EXPECT_FALSE(mem->slice(16 * kMiB + 1, 0).ok());
}

TEST(GuestMemoryTest, RejectsRangesCrossingTheEnd) {
  auto mem = make({{0, 16 * kMiB}});
  ASSERT_NE(mem, nullptr);
  EXPECT_FALSE(mem->slice(16 * kMiB - 1, 2).ok());
  EXPECT_FALSE(mem->slice(0, 16 * kMiB + 1).ok());
  EXPECT_FALSE(mem->slice(16 * kMiB, 1).ok());
  EXPECT_FALSE(mem->slice(64 * kMiB, 4096).ok());
}

TEST(GuestMemoryTest, RejectsWrappingRanges) {
  auto mem = make({{0, 16 * kMiB}});
  ASSERT_NE(mem, nullptr);
  // gpa + len wraps past 2^64 to a small number inside the region.
  EXPECT_FALSE(mem->slice(0x1000, UINT64_MAX).ok());
  EXPECT_FALSE(mem->slice(0x1000, UINT64_MAX - 0xfff + 0x10).ok());
  EXPECT_FALSE(mem->slice(UINT64_MAX, 2).ok());
  EXPECT_FALSE(mem->slice(UINT64_MAX - 0xff, 0x1000).ok());
}

TEST(GuestMemoryTest, ErrorNamesTheRange) {
  auto mem = make({{0, 16 * kMiB}});
  ASSERT_NE(mem, nullptr);
  auto s = mem->slice(0x2000000, 16);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("0x2000000"), std::string::npos)
      << s.error().message();
}

// 3.5 GiB: RAM below the MMIO hole and 512 MiB at 4 GiB. MAP_NORESERVE
// means nothing is committed until touched.
TEST(GuestMemoryTest, RespectsTheMmioHoleBetweenRegions) {
  auto mem = make(x86::ram_regions(3 * kGiB + 512 * kMiB));
  ASSERT_NE(mem, nullptr);
  ASSERT_EQ(mem->regions().size(), 2u);
  const uint64_t low_end = 3 * kGiB;
  const uint64_t high = 4 * kGiB;
  EXPECT_TRUE(mem->slice(low_end - 4096, 4096).ok());
  EXPECT_TRUE(mem->slice(high, 4096).ok());
  EXPECT_TRUE(mem->slice(high + 512 * kMiB - 4096, 4096).ok());
  // In the hole, or spanning from one region into the hole or the next.
  EXPECT_FALSE(mem->slice(low_end, 1).ok());
  EXPECT_FALSE(mem->slice(0xfec00000, 4).ok());  // IOAPIC
  EXPECT_FALSE(mem->slice(high - 1, 1).ok());
  EXPECT_FALSE(mem->slice(low_end - 4096, 8192).ok());
  EXPECT_FALSE(mem->slice(low_end - 1, high - low_end + 2).ok());
  EXPECT_FALSE(mem->slice(high + 512 * kMiB - 4096, 8192).ok());
  // The two regions map distinct host memory.
  EXPECT_NE(mem->slice(0, 1)->data(), mem->slice(high, 1)->data());
}

TEST(GuestMemoryTest, ReadWriteRoundTripInBothRegions) {
  auto mem = make(x86::ram_regions(3 * kGiB + 512 * kMiB));
  ASSERT_NE(mem, nullptr);
  const std::vector<uint8_t> data = {1, 2, 3, 4, 5, 6, 7, 8, 0xfe, 0xff};
  for (uint64_t gpa : {uint64_t{0x1234}, 3 * kGiB - data.size(), 4 * kGiB + 77}) {
    ASSERT_TRUE(mem->write(gpa, data).ok()) << gpa;
    std::vector<uint8_t> back(data.size());
    ASSERT_TRUE(mem->read(gpa, back).ok()) << gpa;
    EXPECT_EQ(back, data) << gpa;
    EXPECT_EQ(mem->slice(gpa, 1).value()[0], 1);
  }
}

TEST(GuestMemoryTest, FreshMemoryIsZero) {
  auto mem = make({{0, 1 * kMiB}});
  ASSERT_NE(mem, nullptr);
  std::vector<uint8_t> buf(4096, 0xaa);
  ASSERT_TRUE(mem->read(0x80000, buf).ok());
  EXPECT_EQ(buf, std::vector<uint8_t>(4096, 0));
}

TEST(GuestMemoryTest, WriteOutsideFailsWithoutTouchingMemory) {
  auto mem = make({{0, 1 * kMiB}});
  ASSERT_NE(mem, nullptr);
  const std::vector<uint8_t> data(16, 0x5a);
  EXPECT_FALSE(mem->write(1 * kMiB - 8, data).ok());
  auto tail = mem->slice(1 * kMiB - 8, 8);
  ASSERT_TRUE(tail.ok());
  for (uint8_t b : *tail) EXPECT_EQ(b, 0);
  std::vector<uint8_t> out(16);
  EXPECT_FALSE(mem->read(1 * kMiB - 8, out).ok());
}

TEST(GuestMemoryTest, WriteObjStoresTheObjectBytes) {
  auto mem = make({{0, 1 * kMiB}});
  ASSERT_NE(mem, nullptr);
  ASSERT_TRUE(mem->write_obj(0x100, uint64_t{0x1122334455667788}).ok());
  uint64_t back = 0;
  ASSERT_TRUE(mem->read(0x100, {reinterpret_cast<uint8_t*>(&back), 8}).ok());
  EXPECT_EQ(back, 0x1122334455667788u);
  EXPECT_FALSE(mem->write_obj(1 * kMiB - 4, uint64_t{1}).ok());
}

}  // namespace
}  // namespace vmrun
