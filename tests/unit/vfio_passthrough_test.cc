// A passed-through PCI function as the guest sees it (Passthrough over a
// recording fake VFIO device): identity, BAR placement and sizing through
// the PCI bus, the capability list vmrun keeps, which config writes reach
// the device, MSI and MSI-X programming turned into routes, BAR accesses
// that trap, and the parts of the BARs mapped straight into the guest.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "devices/bus.h"
#include "devices/pci/pci_bus.h"
#include "devices/vfio/passthrough.h"
#include "tests/support/fake_vfio.h"

namespace vmrun::devices::vfio {
namespace {

using test_support::FakeIrqSink;
using test_support::FakeVfioDevice;
using Raw = std::array<uint8_t, 256>;

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kBar0Size = kMiB, kBar2Size = 16 * 1024;
constexpr uint32_t kGsi0 = FakeIrqSink::kFirstGsi;
constexpr int kFd0 = FakeIrqSink::kFdBase + static_cast<int>(kGsi0);

void put32(Raw& c, size_t at, uint32_t v) { std::memcpy(&c[at], &v, 4); }

// An edu-like function: 32-bit BAR0, 64-bit prefetchable BAR2 holding the
// MSI-X table (at 0) and PBA (at 0x2000), and the capability list
// 0x40 PM -> 0x50 vendor-specific -> 0x60 MSI (64-bit) -> 0x70 MSI-X.
Raw device_config() {
  Raw c{};
  put32(c, 0x00, 0x11e81234);
  put32(c, 0x04, 0x00100000);  // status: capability list
  put32(c, 0x08, 0x02800010);  // class 02, subclass 80, prog-if 00, rev 10
  put32(c, 0x0c, 0x00800000);  // header type 0 with the multifunction bit
  put32(c, 0x10, 0xfea00000);  // BAR0 at its host address
  put32(c, 0x18, 0xfe80000c);  // BAR2: 64-bit, prefetchable
  put32(c, 0x2c, 0x11001af4);
  put32(c, 0x30, 0xfeb00001);  // an enabled ROM
  c[0x34] = 0x40;
  c[0x3c] = 0x0b;  // the host's line
  c[0x3d] = 0x01;  // INTA
  put32(c, 0x40, 0x00035001);  // PM, next 0x50, PMC
  put32(c, 0x50, 0x00086009);  // vendor-specific, next 0x60
  put32(c, 0x60, 0x00807005);  // MSI, next 0x70, 64-bit, one vector
  put32(c, 0x70, 0x00030011);  // MSI-X, next 0, four entries
  put32(c, 0x74, 0x00000002);  // table: BAR2 + 0
  put32(c, 0x78, 0x00002002);  // PBA: BAR2 + 0x2000
  return c;
}

class VfioPassthroughTest : public ::testing::Test {
 protected:
  VfioPassthroughTest() : pending(std::make_unique<FakeVfioDevice>()), dev(pending.get()) {
    set_config(device_config());
    pending->add_region(kBar0Region + 0, kBar0Size, /*mappable=*/true);
    pending->add_region(kBar0Region + 2, kBar2Size, /*mappable=*/true);
    pending->irq_counts = {{kIntxIrq, 1}, {kMsiIrq, 1}, {kMsixIrq, 4}};
  }

  void set_config(const Raw& c) {
    pending->add_region(kConfigRegion, 256);
    std::memcpy(pending->backing[kConfigRegion].data(), c.data(), 256);
  }

  // Creates the function from the fake as it stands; the fake's log starts
  // empty after that.
  void start() {
    auto r = Passthrough::create(std::move(pending), sink);
    ASSERT_TRUE(r.ok()) << r.error().message();
    fn = r.value();
    dev->reads.clear();
  }
  // Adds the function to the bus, as the VM does; BARs land in the window.
  void place() {
    auto r = bus.add(fn, fn->bars(), mmio);
    ASSERT_TRUE(r.ok()) << r.error().message();
    slot = r.value();
  }

  // Config cycles as the guest makes them, through the bus.
  uint32_t cfg_read(uint16_t off, size_t len) {
    uint32_t v = 0;
    bus.config_read(slot, off, std::span(reinterpret_cast<uint8_t*>(&v), len));
    return v;
  }
  void cfg_write(uint16_t off, size_t len, uint32_t v) {
    bus.config_write(slot, off, std::span(reinterpret_cast<const uint8_t*>(&v), len));
  }
  uint32_t bar_read32(int bar, uint64_t off) {
    uint32_t v = 0;
    fn->bar_read(bar, off, std::span(reinterpret_cast<uint8_t*>(&v), 4));
    return v;
  }
  void bar_write32(int bar, uint64_t off, uint32_t v) {
    fn->bar_write(bar, off, std::span(reinterpret_cast<const uint8_t*>(&v), 4));
  }
  size_t config_writes() const { return dev->writes_to(kConfigRegion).size(); }

  std::unique_ptr<FakeVfioDevice> pending;
  FakeVfioDevice* dev;  // owned by fn once started
  FakeIrqSink sink;
  std::shared_ptr<Passthrough> fn;
  pci::PciBus bus;
  Bus mmio{"mmio"};
  int slot = -1;
};

TEST_F(VfioPassthroughTest, IdentityAndClassComeFromTheDevice) {
  start();
  place();
  EXPECT_EQ(cfg_read(0x00, 4), 0x11e81234u);
  EXPECT_EQ(cfg_read(0x02, 2), 0x11e8u);
  EXPECT_EQ(cfg_read(0x08, 4), 0x02800010u);
  EXPECT_EQ(cfg_read(0x2c, 4), 0x11001af4u);
  EXPECT_EQ(cfg_read(0x0e, 1), 0x00u) << "one function: no multifunction bit";
}

TEST_F(VfioPassthroughTest, BarSizesComeFromTheVfioRegions) {
  start();
  const auto& bars = fn->bars();
  ASSERT_EQ(bars.size(), 6u);
  EXPECT_EQ(bars[0].size, kBar0Size);
  EXPECT_FALSE(bars[0].is64);
  EXPECT_FALSE(bars[0].prefetchable);
  EXPECT_EQ(bars[2].size, kBar2Size);
  EXPECT_TRUE(bars[2].is64);
  EXPECT_TRUE(bars[2].prefetchable);
  for (int i : {1, 3, 4, 5}) EXPECT_EQ(bars[i].size, 0u) << i;
}

TEST_F(VfioPassthroughTest, PlacedBarsReadTheirGuestAddressWithTypeBits) {
  start();
  place();
  EXPECT_EQ(fn->config().bar_address(0), 0xe0000000u);
  EXPECT_EQ(fn->config().bar_address(2), 0xe0100000u);
  EXPECT_EQ(cfg_read(0x10, 4), 0xe0000000u) << "not the host's address";
  EXPECT_EQ(cfg_read(0x14, 4), 0u);
  EXPECT_EQ(cfg_read(0x18, 4), 0xe010000cu) << "64-bit, prefetchable";
  EXPECT_EQ(cfg_read(0x1c, 4), 0u);
}

TEST_F(VfioPassthroughTest, BarSizingWorksAndBarsNeverMove) {
  start();
  place();
  for (uint16_t off = 0x10; off < 0x28; off += 4) cfg_write(off, 4, 0xffffffff);
  EXPECT_EQ(cfg_read(0x10, 4), 0xfff00000u) << "1 MiB";
  EXPECT_EQ(cfg_read(0x14, 4), 0u) << "unused";
  EXPECT_EQ(cfg_read(0x18, 4), 0xffffc00cu) << "16 KiB";
  EXPECT_EQ(cfg_read(0x1c, 4), 0xffffffffu) << "upper half";
  cfg_write(0x10, 4, 0x12340000);
  cfg_write(0x18, 4, 0xe0100000);
  cfg_write(0x1c, 4, 0x00000001);
  EXPECT_EQ(cfg_read(0x10, 4), 0xe0000000u);
  EXPECT_EQ(cfg_read(0x18, 4), 0xe010000cu);
  EXPECT_EQ(cfg_read(0x1c, 4), 0u);
  EXPECT_EQ(config_writes(), 0u) << "BAR writes stay in vmrun";
}

TEST_F(VfioPassthroughTest, RomIsHiddenAndItsWritesAreDropped) {
  start();
  place();
  EXPECT_EQ(cfg_read(0x30, 4), 0u);
  cfg_write(0x30, 4, 0xffffffff);
  EXPECT_EQ(cfg_read(0x30, 4), 0u);
  cfg_write(0x34, 1, 0x50);
  EXPECT_EQ(cfg_read(0x34, 1), 0x40u) << "capability pointer is read-only";
  EXPECT_EQ(config_writes(), 0u);
}

TEST_F(VfioPassthroughTest, GuestWalksPmMsiMsixAndSkipsTheVendorCapability) {
  start();
  place();
  EXPECT_NE(cfg_read(0x06, 2) & 0x10, 0u) << "status: capability list";
  std::vector<std::pair<uint32_t, uint32_t>> seen;  // (offset, id)
  uint32_t at = cfg_read(0x34, 1);
  while (at != 0 && seen.size() < 48) {
    seen.emplace_back(at, cfg_read(static_cast<uint16_t>(at), 1));
    at = cfg_read(static_cast<uint16_t>(at + 1), 1);
  }
  EXPECT_EQ(seen, (std::vector<std::pair<uint32_t, uint32_t>>{
                      {0x40, 0x01}, {0x60, 0x05}, {0x70, 0x11}}));
  EXPECT_EQ(cfg_read(0x70, 4), 0x00030011u) << "MSI-X: four entries, next 0";
  EXPECT_EQ(cfg_read(0x74, 4), 0x2u);
  EXPECT_EQ(cfg_read(0x78, 4), 0x2002u);
  EXPECT_EQ(cfg_read(0x38, 4), 0u) << "reserved";
}

TEST_F(VfioPassthroughTest, CommandAndPmControlWritesReachTheDeviceButHeadersDoNot) {
  start();
  place();
  cfg_write(0x04, 2, 0x0406);
  auto w = dev->writes_to(kConfigRegion);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].offset, 0x04u);
  EXPECT_EQ(w[0].bytes, (std::vector<uint8_t>{0x06, 0x04}));
  EXPECT_EQ(cfg_read(0x04, 4), 0x00100406u) << "device's command, status keeps cap list";
  cfg_write(0x44, 2, 0x0003);
  ASSERT_EQ(config_writes(), 2u);
  EXPECT_EQ(dev->writes_to(kConfigRegion)[1].offset, 0x44u);
  cfg_write(0x40, 4, 0xffffffff);  // PM id and next
  cfg_write(0x71, 1, 0x00);        // MSI-X next
  cfg_write(0x3d, 1, 0x04);        // interrupt pin
  cfg_write(0x3c, 1, 0x05);        // interrupt line
  EXPECT_EQ(config_writes(), 2u);
  EXPECT_EQ(cfg_read(0x41, 1), 0x60u);
}

TEST_F(VfioPassthroughTest, AttachIntxSetsTheLineToTheGsiAndKeepsPinA) {
  start();
  place();
  EXPECT_EQ(cfg_read(0x3c, 1), 0u) << "the host's line is not shown";
  ASSERT_TRUE(fn->attach_intx(19).ok());
  EXPECT_EQ(cfg_read(0x3c, 1), 19u);
  EXPECT_EQ(cfg_read(0x3d, 1), 1u);
  ASSERT_EQ(sink.intx_binds.size(), 1u);
  EXPECT_EQ(sink.intx_binds[0].gsi, 19u);
  ASSERT_EQ(dev->irq_sets.size(), 1u);
  EXPECT_EQ(dev->irq_sets[0].index, kIntxIrq);
  cfg_write(0x3c, 1, 0x0a);  // the guest may note its own line
  EXPECT_EQ(cfg_read(0x3c, 1), 0x0au);
}

TEST_F(VfioPassthroughTest, DeviceWithoutAPinGetsNoIntx) {
  Raw c = device_config();
  c[0x3d] = 0;
  set_config(c);
  start();
  ASSERT_TRUE(fn->attach_intx(19).ok());
  EXPECT_TRUE(sink.intx_binds.empty());
  EXPECT_TRUE(dev->irq_sets.empty());
}

TEST_F(VfioPassthroughTest, GuestEnablingMsiRoutesItsAddressAndDataAndSetsVfioEventfds) {
  start();
  place();
  ASSERT_TRUE(fn->attach_intx(19).ok());
  cfg_write(0x64, 4, 0xfee01000);
  cfg_write(0x68, 4, 0);
  cfg_write(0x6c, 2, 0x4025);
  EXPECT_TRUE(sink.routes.empty()) << "not enabled yet";
  cfg_write(0x62, 2, 0x0001);
  EXPECT_EQ(cfg_read(0x62, 2), 0x0081u);
  EXPECT_EQ(sink.routes, (std::vector<FakeIrqSink::Route>{{kGsi0, 0xfee01000, 0x4025}}));
  ASSERT_EQ(dev->irq_sets.size(), 3u);
  EXPECT_EQ(dev->irq_sets[1].index, kIntxIrq);
  EXPECT_TRUE(dev->irq_sets[1].fds.empty()) << "INTx off";
  EXPECT_EQ(dev->irq_sets[2].index, kMsiIrq);
  EXPECT_EQ(dev->irq_sets[2].fds, std::vector<int>{kFd0});
  EXPECT_EQ(config_writes(), 0u) << "the guest's MSI address never reaches the device";

  cfg_write(0x62, 2, 0x0000);
  ASSERT_EQ(dev->irq_sets.size(), 5u);
  EXPECT_EQ(dev->irq_sets[3].index, kMsiIrq);
  EXPECT_TRUE(dev->irq_sets[3].fds.empty());
  EXPECT_EQ(dev->irq_sets[4].index, kIntxIrq) << "back to the pin";
}

TEST_F(VfioPassthroughTest, MsixTableWritesAndEnableBecomeRoutesAndUnmasks) {
  start();
  place();
  const uint64_t table = *fn->config().bar_address(2);
  auto mmio_write32 = [&](uint64_t off, uint32_t v) {
    ASSERT_TRUE(mmio.write(table + off, std::span(reinterpret_cast<const uint8_t*>(&v), 4)));
  };
  mmio_write32(16 + 0, 0xfee02000);  // entry 1, left masked
  mmio_write32(16 + 8, 0x4031);
  EXPECT_EQ(bar_read32(2, 16), 0xfee02000u);
  EXPECT_EQ(bar_read32(2, 28), 1u) << "entries start masked";
  EXPECT_TRUE(dev->irq_sets.empty()) << "MSI-X still off";
  cfg_write(0x72, 2, 0x8000);
  EXPECT_EQ(cfg_read(0x72, 2), 0x8003u);
  ASSERT_EQ(dev->irq_sets.size(), 1u);
  EXPECT_EQ(dev->irq_sets[0].index, kMsixIrq);
  EXPECT_EQ(dev->irq_sets[0].fds, (std::vector<int>{kFd0, kFd0 + 1})) << "entries 0 and 1";
  EXPECT_EQ(sink.routes[1], (FakeIrqSink::Route{kGsi0 + 1, 0xfee02000, 0x4031}));
  EXPECT_EQ(sink.masks, (std::vector<FakeIrqSink::Mask>{{kGsi0, true}, {kGsi0 + 1, true}}));
  mmio_write32(16 + 12, 0);  // unmask entry 1
  EXPECT_EQ(sink.masks.back(), (FakeIrqSink::Mask{kGsi0 + 1, false}));
  EXPECT_EQ(sink.masks.size(), 3u);
  cfg_write(0x73, 1, 0xc0);  // function mask
  EXPECT_EQ(sink.masks.back(), (FakeIrqSink::Mask{kGsi0 + 1, true}));
  EXPECT_TRUE(dev->writes_to(kBar0Region + 2).empty()) << "the table is vmrun's";
}

TEST_F(VfioPassthroughTest, PbaReadsZeroAndIgnoresWrites) {
  start();
  EXPECT_EQ(bar_read32(2, 0x2000), 0u);
  EXPECT_EQ(bar_read32(2, 0x2004), 0u);
  bar_write32(2, 0x2000, 0xffffffff);
  EXPECT_TRUE(dev->writes.empty());
  EXPECT_TRUE(dev->reads.empty());
}

TEST_F(VfioPassthroughTest, OtherBarAccessesReachTheDeviceAtTheSameOffset) {
  for (size_t i = 0; i < kBar2Size; ++i) dev->backing[2][i] = static_cast<uint8_t>(i * 7);
  start();
  uint32_t expect;
  std::memcpy(&expect, &dev->backing[2][0x1004], 4);
  EXPECT_EQ(bar_read32(2, 0x1004), expect);
  ASSERT_EQ(dev->reads.size(), 1u);
  EXPECT_EQ(dev->reads[0].region, kBar0Region + 2);
  EXPECT_EQ(dev->reads[0].offset, 0x1004u);
  bar_read32(2, 0x40);    // just past the 4-entry table
  bar_read32(2, 0x2008);  // just past the PBA
  EXPECT_EQ(dev->reads.size(), 3u);
  bar_write32(0, 0x100, 0xdeadbeef);
  auto w = dev->writes_to(kBar0Region + 0);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].offset, 0x100u);
  EXPECT_EQ(w[0].bytes, (std::vector<uint8_t>{0xef, 0xbe, 0xad, 0xde}));
}

TEST_F(VfioPassthroughTest, AccessesPastTheRegionReadAllOnesAndStayHere) {
  pending->add_region(kBar0Region + 0, 0x800);  // smaller than a page
  start();
  EXPECT_EQ(fn->bars()[0].size, 4096u) << "a page at least";
  place();
  const uint64_t bar0 = *fn->config().bar_address(0);
  uint32_t v = 0;
  ASSERT_TRUE(mmio.read(bar0 + 0x800, std::span(reinterpret_cast<uint8_t*>(&v), 4)));
  EXPECT_EQ(v, 0xffffffffu);
  EXPECT_EQ(bar_read32(0, 0x7fe), 0xffffffffu) << "straddles the end";
  EXPECT_EQ(bar_read32(2, kBar2Size), 0xffffffffu);
  bar_write32(0, 0x800, 1);
  bar_write32(2, kBar2Size - 2, 1);
  EXPECT_TRUE(dev->reads.empty());
  EXPECT_TRUE(dev->writes.empty());
}

TEST_F(VfioPassthroughTest, MapBarsMapsAllButThePagesOfTheMsixTableAndPba) {
  start();
  place();
  auto r = fn->map_bars();
  ASSERT_TRUE(r.ok()) << r.error().message();
  const auto& m = r.value();
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0].gpa, 0xe0000000u);
  EXPECT_EQ(m[0].size, kBar0Size);
  EXPECT_EQ(m[0].host, dev->backing[0].data());
  EXPECT_EQ(m[1].gpa, 0xe0100000u + 0x1000);
  EXPECT_EQ(m[1].size, 0x1000u);
  EXPECT_EQ(m[1].host, dev->backing[2].data() + 0x1000);
  EXPECT_EQ(m[2].gpa, 0xe0100000u + 0x3000);
  EXPECT_EQ(m[2].size, 0x1000u);
  EXPECT_EQ(m[2].host, dev->backing[2].data() + 0x3000);
  ASSERT_EQ(dev->maps.size(), 3u);
  EXPECT_EQ(dev->maps[1].region, kBar0Region + 2);
  EXPECT_EQ(dev->maps[1].offset, 0x1000u);
}

TEST_F(VfioPassthroughTest, MapBarsHonoursSparseAreasAndSkipsUnmappableBars) {
  pending->regions[0].mmap_areas = {{0, 0x2000}, {0x10000, 0x800}, {0x80100, 0x3000}};
  pending->regions[2].mappable = false;
  start();
  EXPECT_TRUE(fn->map_bars().value().empty()) << "nothing placed yet";
  place();
  auto m = fn->map_bars().value();
  ASSERT_EQ(m.size(), 2u) << "the sub-page area traps";
  EXPECT_EQ(m[0].gpa, 0xe0000000u);
  EXPECT_EQ(m[0].size, 0x2000u);
  EXPECT_EQ(m[1].gpa, 0xe0000000u + 0x81000) << "rounded in to whole pages";
  EXPECT_EQ(m[1].size, 0x2000u);
  for (const auto& map : dev->maps) EXPECT_EQ(map.region, kBar0Region + 0);
}

TEST_F(VfioPassthroughTest, LoopingCapabilityListStillEndsForTheGuest) {
  Raw c = device_config();
  c[0x41] = 0x60;  // PM -> MSI
  c[0x61] = 0x48;  // MSI -> 0x48
  put32(c, 0x48, 0x00004001);  // PM again, back to 0x40
  set_config(c);
  start();
  place();
  std::vector<uint32_t> seen;
  for (uint32_t at = cfg_read(0x34, 1); at != 0 && seen.size() < 64;
       at = cfg_read(static_cast<uint16_t>(at + 1), 1)) {
    seen.push_back(at);
  }
  EXPECT_LT(seen.size(), 48u) << "the walk ends";
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(std::adjacent_find(seen.begin(), seen.end()), seen.end()) << "no offset twice";
}

TEST_F(VfioPassthroughTest, AllOnesConfigSpaceFailsCreation) {
  Raw c;
  c.fill(0xff);
  set_config(c);
  auto r = Passthrough::create(std::move(pending), sink);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("0000:01:00.0: config space reads as all-ones"),
            std::string::npos)
      << r.error().message();
}

TEST_F(VfioPassthroughTest, UnreadableConfigSpaceFailsCreationWithContext) {
  pending->backing[kConfigRegion].resize(64);
  auto r = Passthrough::create(std::move(pending), sink);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("reading config space"), std::string::npos)
      << r.error().message();
}

TEST_F(VfioPassthroughTest, BadConfigAccessesReadAllOnesAndAreDropped) {
  start();
  EXPECT_EQ(fn->config_read(0x01, 2), 0xffffffffu);
  EXPECT_EQ(fn->config_read(0x00, 3), 0xffffffffu);
  EXPECT_EQ(fn->config_read(0xfe, 4), 0xffffffffu);
  fn->config_write(0x05, 2, 0xffff);
  fn->config_write(0xfc, 8, 0);
  EXPECT_EQ(config_writes(), 0u);
}

}  // namespace
}  // namespace vmrun::devices::vfio
