// devices::Bus: range bookkeeping and dispatch with device-relative offsets.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "devices/bus.h"

namespace vmrun::devices {
namespace {

// Records every access; reads answer a recognizable pattern.
class Recorder : public BusDevice {
 public:
  struct Access {
    bool write;
    uint64_t offset;
    std::vector<uint8_t> data;
  };
  explicit Recorder(uint8_t tag = 0) : tag_(tag) {}
  void read(uint64_t offset, std::span<uint8_t> data) override {
    for (size_t i = 0; i < data.size(); ++i) {
      data[i] = static_cast<uint8_t>(tag_ + offset + i);
    }
    accesses.push_back({false, offset, {data.begin(), data.end()}});
  }
  void write(uint64_t offset, std::span<const uint8_t> data) override {
    accesses.push_back({true, offset, {data.begin(), data.end()}});
  }
  std::vector<Access> accesses;

 private:
  uint8_t tag_;
};

TEST(BusTest, DeviceSeesOffsetsRelativeToItsBase) {
  Bus bus("pio");
  auto dev = std::make_shared<Recorder>(0x40);
  ASSERT_TRUE(bus.insert(dev, 0x3f8, 8).ok());
  const uint8_t out[] = {0xab};
  EXPECT_TRUE(bus.write(0x3fb, out));
  uint8_t in[2] = {};
  EXPECT_TRUE(bus.read(0x3fc, in));
  ASSERT_EQ(dev->accesses.size(), 2u);
  EXPECT_TRUE(dev->accesses[0].write);
  EXPECT_EQ(dev->accesses[0].offset, 3u);
  EXPECT_EQ(dev->accesses[0].data, std::vector<uint8_t>{0xab});
  EXPECT_FALSE(dev->accesses[1].write);
  EXPECT_EQ(dev->accesses[1].offset, 4u);
  EXPECT_EQ(in[0], 0x44);
  EXPECT_EQ(in[1], 0x45);
}

TEST(BusTest, WholeRangeIsClaimedFirstAndLastByte) {
  Bus bus("pio");
  auto dev = std::make_shared<Recorder>();
  ASSERT_TRUE(bus.insert(dev, 0x100, 4).ok());
  uint8_t b[1];
  EXPECT_TRUE(bus.read(0x100, b));
  EXPECT_TRUE(bus.read(0x103, b));
  uint8_t all[4];
  EXPECT_TRUE(bus.read(0x100, all));
  EXPECT_FALSE(bus.read(0x0ff, b));
  EXPECT_FALSE(bus.read(0x104, b));
  EXPECT_EQ(dev->accesses.size(), 3u);
}

TEST(BusTest, AccessStraddlingTheEndIsUnclaimed) {
  Bus bus("pio");
  auto dev = std::make_shared<Recorder>();
  ASSERT_TRUE(bus.insert(dev, 0x100, 4).ok());
  uint8_t two[2] = {0x11, 0x22};
  EXPECT_FALSE(bus.read(0x103, two));
  EXPECT_FALSE(bus.write(0x103, two));
  uint8_t four[4] = {};
  EXPECT_FALSE(bus.read(0x0ff, four));  // starts before the device
  EXPECT_TRUE(dev->accesses.empty());
  // The bus leaves an unclaimed read's buffer for the caller to fill.
  EXPECT_EQ(two[0], 0x11);
  EXPECT_EQ(two[1], 0x22);
}

TEST(BusTest, EmptyBusClaimsNothing) {
  Bus bus("mmio");
  uint8_t b[4];
  EXPECT_FALSE(bus.read(0, b));
  EXPECT_FALSE(bus.write(UINT64_MAX - 3, b));
}

TEST(BusTest, RejectsOverlapFromEitherSide) {
  Bus bus("pio");
  auto dev = std::make_shared<Recorder>();
  ASSERT_TRUE(bus.insert(dev, 0x100, 0x10).ok());
  auto other = std::make_shared<Recorder>();
  EXPECT_FALSE(bus.insert(other, 0x0f8, 0x09).ok());  // its tail overlaps
  EXPECT_FALSE(bus.insert(other, 0x10f, 0x10).ok());  // its head overlaps
  EXPECT_FALSE(bus.insert(other, 0x104, 0x02).ok());  // inside
  EXPECT_FALSE(bus.insert(other, 0x0f0, 0x40).ok());  // covers it
  EXPECT_FALSE(bus.insert(other, 0x100, 0x10).ok());  // same range
  // None of the failed inserts took effect.
  uint8_t b[1];
  EXPECT_FALSE(bus.read(0x0f8, b));
  EXPECT_FALSE(bus.read(0x110, b));
  EXPECT_TRUE(other->accesses.empty());
}

TEST(BusTest, OverlapErrorNamesTheBus) {
  Bus bus("pio");
  ASSERT_TRUE(bus.insert(std::make_shared<Recorder>(), 0x60, 5).ok());
  auto r = bus.insert(std::make_shared<Recorder>(), 0x64, 1);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("pio"), std::string::npos);
}

TEST(BusTest, RejectsEmptyAndWrappingRanges) {
  Bus bus("mmio");
  auto dev = std::make_shared<Recorder>();
  EXPECT_FALSE(bus.insert(dev, 0x1000, 0).ok());
  EXPECT_FALSE(bus.insert(dev, UINT64_MAX - 0xf, 0x20).ok());
  EXPECT_FALSE(bus.insert(dev, 1, UINT64_MAX).ok());
}

TEST(BusTest, AccessNearTopOfAddressSpaceDoesNotWrap) {
  Bus bus("mmio");
  auto dev = std::make_shared<Recorder>();
  ASSERT_TRUE(bus.insert(dev, UINT64_MAX - 0x1f, 0x10).ok());
  uint8_t b[4];
  EXPECT_TRUE(bus.read(UINT64_MAX - 0x13, b));
  EXPECT_FALSE(bus.read(UINT64_MAX - 0x12, b));  // one byte past the end
  EXPECT_FALSE(bus.read(UINT64_MAX - 1, b));      // would wrap past 2^64
  ASSERT_EQ(dev->accesses.size(), 1u);
  EXPECT_EQ(dev->accesses[0].offset, 0xcu);
}

TEST(BusTest, AdjacentRangesEachGetTheirOwnAccesses) {
  Bus bus("pio");
  auto a = std::make_shared<Recorder>(0x10);
  auto b = std::make_shared<Recorder>(0x80);
  auto c = std::make_shared<Recorder>(0xc0);
  ASSERT_TRUE(bus.insert(b, 0x108, 8).ok());
  ASSERT_TRUE(bus.insert(a, 0x100, 8).ok());  // right below b
  ASSERT_TRUE(bus.insert(c, 0x110, 8).ok());  // right above b
  uint8_t x[1];
  EXPECT_TRUE(bus.read(0x107, x));
  EXPECT_EQ(x[0], 0x17);
  EXPECT_TRUE(bus.read(0x108, x));
  EXPECT_EQ(x[0], 0x80);
  EXPECT_TRUE(bus.read(0x117, x));
  EXPECT_EQ(x[0], 0xc7);
  // An access spanning two devices belongs to neither.
  uint8_t two[2];
  EXPECT_FALSE(bus.read(0x107, two));
  EXPECT_EQ(a->accesses.size(), 1u);
  EXPECT_EQ(b->accesses.size(), 1u);
  EXPECT_EQ(c->accesses.size(), 1u);
}

TEST(BusTest, GapBetweenRangesIsUnclaimed) {
  Bus bus("pio");
  auto a = std::make_shared<Recorder>();
  auto b = std::make_shared<Recorder>();
  ASSERT_TRUE(bus.insert(a, 0x60, 1).ok());
  ASSERT_TRUE(bus.insert(b, 0x64, 1).ok());
  uint8_t x[1];
  for (uint64_t port = 0x61; port < 0x64; ++port) {
    EXPECT_FALSE(bus.read(port, x)) << port;
  }
  EXPECT_TRUE(a->accesses.empty());
  EXPECT_TRUE(b->accesses.empty());
}

}  // namespace
}  // namespace vmrun::devices
