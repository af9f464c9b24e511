// A passed-through device's MSI and MSI-X capabilities as the guest sees
// and programs them (MsiCap, MsixCap), and how the programmed vectors turn
// into KVM routes, masks and VFIO eventfds (Interrupts).
#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "devices/vfio/msi_caps.h"
#include "tests/support/fake_vfio.h"

namespace vmrun::devices::vfio {
namespace {

using test_support::FakeIrqSink;
using test_support::FakeVfioDevice;
using Raw = std::array<uint8_t, 256>;

// A config space with one capability `id` at `at`: control word, then
// `dwords` after it.
Raw with_cap(uint8_t at, uint8_t id, uint16_t control, std::vector<uint32_t> dwords = {}) {
  Raw raw{};
  raw[at] = id;
  raw[at + 1] = 0x90;  // some next pointer
  std::memcpy(&raw[at + 2], &control, 2);
  for (size_t i = 0; i < dwords.size(); ++i) std::memcpy(&raw[at + 4 + 4 * i], &dwords[i], 4);
  return raw;
}

// ---- MSI ----

constexpr uint8_t kAt = 0x50;
constexpr uint16_t k64 = 0x0080, kPerVectorMask = 0x0100;

TEST(VfioMsiCapTest, ThirtyTwoBitCapabilityDeliversTheProgrammedAddressAndData) {
  Raw raw = with_cap(kAt, kCapMsi, 0x0000);
  MsiCap msi(raw, kAt);
  EXPECT_TRUE(msi.contains(kAt) && msi.contains(kAt + 11));
  EXPECT_FALSE(msi.contains(kAt + 12));
  EXPECT_EQ(msi.read(kAt, 4), 0x00009005u) << "id, next, control";
  msi.write(kAt + 4, 4, 0xfee01003);
  msi.write(kAt + 8, 2, 0x4041);
  EXPECT_EQ(msi.read(kAt + 4, 4), 0xfee01000u) << "address is dword aligned";
  EXPECT_TRUE(msi.vectors().empty()) << "not enabled yet";
  msi.write(kAt + 2, 2, 0x0001);
  EXPECT_EQ(msi.vectors(), (std::vector<MsiVector>{{0xfee01000, 0x4041, false}}));
}

TEST(VfioMsiCapTest, SixtyFourBitCapabilityHasAnUpperAddressAndDataAfterIt) {
  Raw raw = with_cap(kAt, kCapMsi, k64);
  MsiCap msi(raw, kAt);
  EXPECT_TRUE(msi.contains(kAt + 15));
  EXPECT_FALSE(msi.contains(kAt + 16));
  msi.write(kAt + 4, 4, 0xfee00000);
  msi.write(kAt + 8, 4, 0x00000001);
  msi.write(kAt + 12, 2, 0x0023);
  msi.write(kAt + 2, 1, 0x01);
  EXPECT_EQ(msi.vectors(), (std::vector<MsiVector>{{0x1fee00000ull, 0x23, false}}));
}

TEST(VfioMsiCapTest, EnableAndMultipleMessageEnableStartClearedWhateverTheDeviceHad) {
  Raw raw = with_cap(kAt, kCapMsi, k64 | 0x0004 /* 4 capable */ | 0x0020 | 0x0001);
  MsiCap msi(raw, kAt);
  EXPECT_EQ(msi.read(kAt + 2, 2), k64 | 0x0004u);
  EXPECT_TRUE(msi.vectors().empty());
}

TEST(VfioMsiCapTest, MultipleMessagesAreClampedToCapableAndPutTheVectorInTheDataLowBits) {
  Raw raw = with_cap(kAt, kCapMsi, 0x0004);  // 32-bit, 4 vectors capable
  MsiCap msi(raw, kAt);
  msi.write(kAt + 4, 4, 0xfee00000);
  msi.write(kAt + 8, 2, 0x4123);
  msi.write(kAt + 2, 2, 0x0051);  // enable, asks for 32
  auto v = msi.vectors();
  ASSERT_EQ(v.size(), 4u) << "clamped to Multiple Message Capable";
  for (uint32_t i = 0; i < 4; ++i) {
    EXPECT_EQ(v[i], (MsiVector{0xfee00000, 0x4120 | i, false})) << i;
  }
  msi.write(kAt + 2, 2, 0x0011);  // two vectors
  v = msi.vectors();
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].data, 0x4122u);
  EXPECT_EQ(v[1].data, 0x4123u);
}

TEST(VfioMsiCapTest, PerVectorMaskBitsMaskTheirVectors) {
  Raw raw = with_cap(kAt, kCapMsi, k64 | kPerVectorMask | 0x0002);  // 2 capable
  MsiCap msi(raw, kAt);
  EXPECT_TRUE(msi.contains(kAt + 23));
  EXPECT_FALSE(msi.contains(kAt + 24));
  msi.write(kAt + 4, 4, 0xfee00000);
  msi.write(kAt + 12, 2, 0x30);
  msi.write(kAt + 16, 4, 0x2);  // mask vector 1
  msi.write(kAt + 2, 2, 0x0011);
  auto v = msi.vectors();
  ASSERT_EQ(v.size(), 2u);
  EXPECT_FALSE(v[0].masked);
  EXPECT_TRUE(v[1].masked);
  msi.write(kAt + 16, 4, 0x1);
  v = msi.vectors();
  EXPECT_TRUE(v[0].masked);
  EXPECT_FALSE(v[1].masked);
}

TEST(VfioMsiCapTest, ReadOnlyBytesIgnoreWrites) {
  Raw raw = with_cap(kAt, kCapMsi, k64 | kPerVectorMask | 0x0002);
  raw[kAt + 20] = 0x01;  // a pending bit, as the device reported it
  MsiCap msi(raw, kAt);
  msi.write(kAt, 4, 0xffffffff);
  EXPECT_EQ(msi.read(kAt, 2), 0x9005u) << "id and next";
  EXPECT_EQ(msi.read(kAt + 2, 2), 0x01f3u) << "only enable and MME changed";
  msi.write(kAt + 20, 4, 0xffffffff);
  EXPECT_EQ(msi.read(kAt + 20, 4), 0x1u) << "pending bits";
  msi.write(kAt + 14, 2, 0xffff);
  EXPECT_EQ(msi.read(kAt + 14, 2), 0u) << "reserved after the data";
}

TEST(VfioMsiCapTest, MisalignedOddSizedOrOverrunningAccessesAreRefused) {
  Raw raw = with_cap(kAt, kCapMsi, 0x0000);
  MsiCap msi(raw, kAt);
  EXPECT_EQ(msi.read(kAt + 1, 2), 0xffffffffu);
  EXPECT_EQ(msi.read(kAt + 4, 3), 0xffffffffu);
  EXPECT_EQ(msi.read(kAt + 12, 4), 0xffffffffu);
  msi.write(kAt + 2, 4, 0xffffffff);  // misaligned dword
  msi.write(kAt + 4, 3, 0xffffffff);
  EXPECT_EQ(msi.read(kAt + 4, 4), 0u);
  EXPECT_TRUE(msi.vectors().empty());
}

// ---- MSI-X ----

constexpr uint8_t kXAt = 0x70;

TEST(VfioMsixCapTest, TableSizeBirAndOffsetsAreDecodedFromTheCapability) {
  Raw raw = with_cap(kXAt, kCapMsix, 0x0007, {0x00003004, 0x00003805});
  MsixCap x(raw, kXAt);
  EXPECT_EQ(x.entries(), 8u);
  EXPECT_EQ(x.table_bar(), 4);
  EXPECT_EQ(x.table_offset(), 0x3000u);
  EXPECT_EQ(x.table_bytes(), 128u);
  EXPECT_EQ(x.pba_bar(), 5);
  EXPECT_EQ(x.pba_offset(), 0x3800u);
  EXPECT_EQ(x.pba_bytes(), 8u);
  EXPECT_EQ(x.read(kXAt, 4), 0x00070011u) << "id, next 0 (the caller's), control";
  EXPECT_EQ(x.read(kXAt + 4, 4), 0x00003004u);
  EXPECT_EQ(x.read(kXAt + 8, 4), 0x00003805u);
  EXPECT_EQ(x.read(kXAt + 12, 4), 0xffffffffu) << "past the capability";

  MsixCap big(with_cap(kXAt, kCapMsix, 0x07ff, {0, 0x1000}), kXAt);
  EXPECT_EQ(big.entries(), 2048u);
  EXPECT_EQ(big.pba_bytes(), 256u);
}

TEST(VfioMsixCapTest, OnlyEnableAndFunctionMaskAreWritable) {
  Raw raw = with_cap(kXAt, kCapMsix, 0xc003, {0x2, 0x2002});  // device had both set
  MsixCap x(raw, kXAt);
  EXPECT_EQ(x.read(kXAt + 2, 2), 0x0003u) << "enable and function mask start clear";
  x.write(kXAt + 2, 2, 0xffff);
  EXPECT_EQ(x.read(kXAt + 2, 2), 0xc003u);
  x.write(kXAt + 3, 1, 0x80);
  EXPECT_EQ(x.read(kXAt + 2, 2), 0x8003u) << "byte write to the top";
  x.write(kXAt, 4, 0x40000000);
  EXPECT_EQ(x.read(kXAt + 2, 2), 0x4003u) << "dword write";
  x.write(kXAt + 4, 4, 0xffffffff);
  x.write(kXAt + 8, 4, 0xffffffff);
  x.write(kXAt + 2, 1, 0xff);  // the table size byte
  EXPECT_EQ(x.read(kXAt + 4, 4), 0x2u);
  EXPECT_EQ(x.read(kXAt + 8, 4), 0x2002u);
  EXPECT_EQ(x.entries(), 4u);
}

class VfioMsixTable : public ::testing::Test {
 protected:
  VfioMsixTable() : x(with_cap(kXAt, kCapMsix, 0x0003, {0x2, 0x2002}), kXAt) {}
  uint32_t rd32(uint64_t off) {
    uint32_t v;
    x.table_read(off, std::span(reinterpret_cast<uint8_t*>(&v), 4));
    return v;
  }
  uint64_t rd64(uint64_t off) {
    uint64_t v;
    x.table_read(off, std::span(reinterpret_cast<uint8_t*>(&v), 8));
    return v;
  }
  void wr32(uint64_t off, uint32_t v) {
    x.table_write(off, std::span(reinterpret_cast<const uint8_t*>(&v), 4));
  }
  void wr64(uint64_t off, uint64_t v) {
    x.table_write(off, std::span(reinterpret_cast<const uint8_t*>(&v), 8));
  }
  void enable(uint16_t extra = 0) { x.write(kXAt + 2, 2, 0x8000 | extra); }
  MsixCap x;
};

TEST_F(VfioMsixTable, EntriesStartMaskedAndZero) {
  for (uint64_t e = 0; e < 4; ++e) {
    EXPECT_EQ(rd64(e * 16), 0u);
    EXPECT_EQ(rd32(e * 16 + 8), 0u);
    EXPECT_EQ(rd32(e * 16 + 12), 1u) << "entry " << e << " masked";
  }
}

TEST_F(VfioMsixTable, DwordAndQwordAccessesReachTheSameFields) {
  wr64(16, 0x00000001fee00000ull);
  wr32(24, 0x41);
  wr32(28, 0);
  EXPECT_EQ(rd32(16), 0xfee00000u);
  EXPECT_EQ(rd32(20), 0x1u);
  EXPECT_EQ(rd64(24), 0x41u) << "data, then vector control (unmasked)";
  wr64(24, 0x0000000100000042ull);
  EXPECT_EQ(rd32(24), 0x42u);
  EXPECT_EQ(rd32(28), 1u);
  wr32(28, 0xfffffffe);
  EXPECT_EQ(rd32(28), 0u) << "reserved control bits read as zero";
}

TEST_F(VfioMsixTable, BadSizesMisalignmentAndOutOfRangeAreIgnoredAndReadAllOnes) {
  uint8_t two[2] = {0, 0};
  x.table_read(0, two);
  EXPECT_EQ(two[0], 0xff);
  EXPECT_EQ(two[1], 0xff);
  EXPECT_EQ(rd32(2), 0xffffffffu);
  EXPECT_EQ(rd64(4), ~0ull);
  EXPECT_EQ(rd32(64), 0xffffffffu) << "past 4 entries";
  EXPECT_EQ(rd64(64), ~0ull);
  const uint8_t bytes2[2] = {0x12, 0x34};
  x.table_write(0, bytes2);
  wr32(2, 0x12345678);
  wr64(4, ~0ull);
  wr32(64, 0x12345678);
  for (uint64_t off = 0; off < 64; off += 4) {
    EXPECT_EQ(rd32(off), off % 16 == 12 ? 1u : 0u) << off;
  }
}

TEST_F(VfioMsixTable, DisabledMsixHasNoVectors) {
  wr64(0, 0xfee00000);
  wr32(12, 0);
  EXPECT_TRUE(x.vectors().empty());
}

TEST_F(VfioMsixTable, VectorsRunOnlyToTheLastSetUpEntry) {
  enable();
  EXPECT_EQ(x.vectors(), (std::vector<MsiVector>{{0, 0, true}})) << "nothing set up: one";
  wr32(2 * 16, 0xfee00000);
  wr32(2 * 16 + 8, 0x77);
  auto v = x.vectors();
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[0], (MsiVector{0, 0, true}));
  EXPECT_EQ(v[2], (MsiVector{0xfee00000, 0x77, true}));
  wr32(3 * 16 + 12, 0);  // unmasking alone counts as set up
  EXPECT_EQ(x.vectors().size(), 4u);
}

TEST_F(VfioMsixTable, FunctionMaskMasksEveryVector) {
  wr64(0, 0xfee00000);
  wr32(12, 0);
  enable();
  EXPECT_EQ(x.vectors(), (std::vector<MsiVector>{{0xfee00000, 0, false}}));
  enable(0x4000);
  EXPECT_EQ(x.vectors(), (std::vector<MsiVector>{{0xfee00000, 0, true}}));
  enable();
  EXPECT_FALSE(x.vectors()[0].masked);
}

// ---- Interrupts ----

class VfioInterruptsTest : public ::testing::Test {
 protected:
  VfioInterruptsTest() {
    dev.irq_counts = {{kIntxIrq, 1}, {kMsiIrq, 1}, {kMsixIrq, 4}};
  }
  // The VFIO eventfd calls since the last look.
  std::vector<FakeVfioDevice::IrqSet> take_irq_sets() { return std::exchange(dev.irq_sets, {}); }

  FakeVfioDevice dev;
  FakeIrqSink sink;
  Interrupts irqs{dev, sink};
};

constexpr MsiVector kVec{0xfee00000, 0x4021, false};
constexpr uint32_t kGsi0 = FakeIrqSink::kFirstGsi;
constexpr int kFd0 = FakeIrqSink::kFdBase + static_cast<int>(kGsi0);

TEST_F(VfioInterruptsTest, AttachIntxBindsAResampledIrqfdAndTurnsIntxOn) {
  ASSERT_TRUE(irqs.attach_intx(10).ok());
  ASSERT_EQ(sink.intx_binds.size(), 1u);
  const auto& bind = sink.intx_binds[0];
  EXPECT_EQ(bind.gsi, 10u);
  EXPECT_GE(bind.trigger_fd, 0);
  EXPECT_GE(bind.resample_fd, 0);
  EXPECT_NE(bind.trigger_fd, bind.resample_fd);
  auto sets = take_irq_sets();
  ASSERT_EQ(sets.size(), 1u);
  EXPECT_EQ(sets[0].index, kIntxIrq);
  EXPECT_EQ(sets[0].fds, std::vector<int>{bind.trigger_fd}) << "VFIO signals the irqfd";
  EXPECT_EQ(dev.unmask_fds, std::vector<int>{bind.resample_fd}) << "resample unmasks";
  EXPECT_EQ(irqs.mode(), kIntxIrq);
}

TEST_F(VfioInterruptsTest, DeviceWithoutAPinGetsNoIntx) {
  dev.irq_counts[kIntxIrq] = 0;
  ASSERT_TRUE(irqs.attach_intx(10).ok());
  EXPECT_TRUE(sink.intx_binds.empty());
  EXPECT_TRUE(dev.irq_sets.empty());
  EXPECT_EQ(irqs.mode(), Interrupts::kNone);
}

TEST_F(VfioInterruptsTest, EnablingMsiTurnsIntxOffThenRoutesAGsiAndHandsVfioItsEventfd) {
  ASSERT_TRUE(irqs.attach_intx(10).ok());
  take_irq_sets();
  ASSERT_TRUE(irqs.set_msi(kMsiIrq, {kVec}).ok());
  EXPECT_EQ(sink.allocations, 1u);
  EXPECT_EQ(sink.routes, (std::vector<FakeIrqSink::Route>{{kGsi0, kVec.addr, kVec.data}}));
  EXPECT_TRUE(sink.masks.empty()) << "a new GSI starts unmasked";
  auto sets = take_irq_sets();
  ASSERT_EQ(sets.size(), 2u);
  EXPECT_EQ(sets[0].index, kIntxIrq);
  EXPECT_TRUE(sets[0].fds.empty()) << "INTx off first";
  EXPECT_EQ(sets[1].index, kMsiIrq);
  EXPECT_EQ(sets[1].fds, std::vector<int>{kFd0});
  EXPECT_EQ(irqs.mode(), kMsiIrq);
}

TEST_F(VfioInterruptsTest, ChangedDataReroutesWithoutTouchingVfio) {
  ASSERT_TRUE(irqs.set_msi(kMsiIrq, {kVec}).ok());
  take_irq_sets();
  ASSERT_TRUE(irqs.set_msi(kMsiIrq, {kVec}).ok());
  EXPECT_EQ(sink.routes.size(), 1u) << "nothing changed, nothing routed";
  MsiVector moved = kVec;
  moved.data = 0x4031;
  ASSERT_TRUE(irqs.set_msi(kMsiIrq, {moved}).ok());
  ASSERT_EQ(sink.routes.size(), 2u);
  EXPECT_EQ(sink.routes[1], (FakeIrqSink::Route{kGsi0, kVec.addr, 0x4031}));
  EXPECT_TRUE(take_irq_sets().empty());
  EXPECT_EQ(sink.allocations, 1u);
}

TEST_F(VfioInterruptsTest, MaskingAndUnmaskingReachTheSinkOnceEach) {
  ASSERT_TRUE(irqs.set_msi(kMsiIrq, {kVec}).ok());
  MsiVector masked = kVec;
  masked.masked = true;
  ASSERT_TRUE(irqs.set_msi(kMsiIrq, {masked}).ok());
  ASSERT_TRUE(irqs.set_msi(kMsiIrq, {masked}).ok());
  ASSERT_TRUE(irqs.set_msi(kMsiIrq, {kVec}).ok());
  ASSERT_TRUE(irqs.set_msi(kMsiIrq, {kVec}).ok());
  EXPECT_EQ(sink.masks,
            (std::vector<FakeIrqSink::Mask>{{kGsi0, true}, {kGsi0, false}}));
  EXPECT_EQ(sink.routes.size(), 1u);
}

TEST_F(VfioInterruptsTest, DisablingMsiTurnsItOffInVfioAndIntxBackOn) {
  ASSERT_TRUE(irqs.attach_intx(10).ok());
  const int trigger = sink.intx_binds[0].trigger_fd;
  ASSERT_TRUE(irqs.set_msi(kMsiIrq, {kVec}).ok());
  take_irq_sets();
  ASSERT_TRUE(irqs.set_msi(kMsiIrq, {}).ok());
  auto sets = take_irq_sets();
  ASSERT_EQ(sets.size(), 2u);
  EXPECT_EQ(sets[0].index, kMsiIrq);
  EXPECT_TRUE(sets[0].fds.empty());
  EXPECT_EQ(sets[1].index, kIntxIrq);
  EXPECT_EQ(sets[1].fds, std::vector<int>{trigger});
  EXPECT_EQ(dev.unmask_fds.size(), 2u) << "the resample fd is set again";
  EXPECT_EQ(irqs.mode(), kIntxIrq);
  ASSERT_TRUE(irqs.set_msi(kMsixIrq, {}).ok());
  EXPECT_TRUE(dev.irq_sets.empty()) << "disabling a mode that is off does nothing";
}

TEST_F(VfioInterruptsTest, MoreVectorsThanTheDeviceHasIsAnErrorAndChangesNothing) {
  auto r = irqs.set_msi(kMsiIrq, {kVec, kVec});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("0000:01:00.0: guest enabled 2 vectors, the device has 1"),
            std::string::npos)
      << r.error().message();
  EXPECT_EQ(sink.allocations, 0u);
  EXPECT_TRUE(dev.irq_sets.empty());
  EXPECT_EQ(irqs.mode(), Interrupts::kNone);
}

TEST_F(VfioInterruptsTest, GsisAreReusedAcrossEnableDisableCycles) {
  const std::vector<MsiVector> two = {kVec, {0xfee00000, 0x4022, false}};
  for (int cycle = 0; cycle < 3; ++cycle) {
    ASSERT_TRUE(irqs.set_msi(kMsixIrq, two).ok());
    ASSERT_TRUE(irqs.set_msi(kMsixIrq, {}).ok());
  }
  ASSERT_TRUE(irqs.set_msi(kMsiIrq, {kVec}).ok());
  EXPECT_EQ(sink.allocations, 2u);
  EXPECT_EQ(dev.irq_sets.back().fds, std::vector<int>{kFd0}) << "MSI reuses the first GSI";
  EXPECT_EQ(sink.routes.back(), (FakeIrqSink::Route{kGsi0, kVec.addr, kVec.data}));
}

// A device whose MSI-X capability sits at 0xf8 (hostile or broken): the
// 12-byte capability runs past config space, and nothing past it is read.
TEST(VfioMsixCapTest, CapabilityAtTheEndOfConfigSpaceReadsNothingPastIt) {
  std::vector<uint8_t> a(260, 0x00), b(260, 0xff);
  std::fill_n(b.begin(), 256, 0x00);
  for (auto* buf : {&a, &b}) {
    (*buf)[0xf8] = kCapMsix;
    (*buf)[0xfa] = 0x03;
    (*buf)[0xfc] = 0x02;  // table in BAR2
  }
  MsixCap xa(std::span<const uint8_t, 256>(a.data(), 256), 0xf8);
  MsixCap xb(std::span<const uint8_t, 256>(b.data(), 256), 0xf8);
  EXPECT_EQ(xa.pba_bar(), xb.pba_bar()) << "bytes past config space changed the PBA";
  EXPECT_EQ(xa.pba_offset(), xb.pba_offset());
}

}  // namespace
}  // namespace vmrun::devices::vfio
