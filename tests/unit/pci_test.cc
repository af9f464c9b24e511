// PCI configuration space, the bus's config mechanisms (CF8/CFC and ECAM),
// BAR placement and sizing, and MSI-X masking, routing and pending bits.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "devices/pci/config_space.h"
#include "devices/pci/msix.h"
#include "devices/pci/pci_bus.h"

namespace vmrun::devices::pci {
namespace {

class RecordingDevice : public BusDevice {
 public:
  void read(uint64_t offset, std::span<uint8_t> data) override {
    last_offset = offset;
    std::fill(data.begin(), data.end(), 0xab);
  }
  void write(uint64_t offset, std::span<const uint8_t>) override { last_offset = offset; }
  uint64_t last_offset = ~0ull;
};

class TestFunction : public PciFunction {
 public:
  TestFunction() : config_(0x1234, 0x5678, 0x020000, 3, 0x1af4, 0x0042) {}
  ConfigSpace& config() override { return config_; }
  std::shared_ptr<BusDevice> bar_handler(int index) override {
    return index == 0 ? handler : nullptr;
  }
  ConfigSpace config_;
  std::shared_ptr<RecordingDevice> handler = std::make_shared<RecordingDevice>();
};

TEST(ConfigSpaceTest, IdentityIsReadOnly) {
  ConfigSpace c(0x1234, 0x5678, 0x020000, 3, 0x1af4, 0x0042);
  EXPECT_EQ(c.read(0, 4), 0x56781234u);
  EXPECT_EQ(c.read(8, 4), 0x02000003u);  // class, subclass, prog-if, revision
  EXPECT_EQ(c.read(0x2c, 4), 0x00421af4u);
  c.write(0, 4, 0xffffffff);
  c.write(8, 4, 0);
  EXPECT_EQ(c.read(0, 4), 0x56781234u);
  EXPECT_EQ(c.read(8, 4), 0x02000003u);
}

TEST(ConfigSpaceTest, CommandRegisterKeepsOnlyWritableBits) {
  ConfigSpace c(1, 2, 0, 0, 0, 0);
  c.write(4, 2, 0xffff);
  EXPECT_EQ(c.command(), 0x0407);  // I/O, memory, bus master, INTx disable
  EXPECT_EQ(c.read(4, 2), 0x0407u);
}

TEST(ConfigSpaceTest, MisalignedOrOddSizedAccessesReadAllOnes) {
  ConfigSpace c(1, 2, 0, 0, 0, 0);
  EXPECT_EQ(c.read(1, 2), 0xffffffffu);
  EXPECT_EQ(c.read(0, 3), 0xffffffffu);
  EXPECT_EQ(c.read(254, 4), 0xffffffffu);
  EXPECT_EQ(c.read(0, 1), 0x01u);
}

TEST(ConfigSpaceTest, Bar32SizingAndAddress) {
  ConfigSpace c(1, 2, 0, 0, 0, 0);
  c.set_bar(1, {0x4000, false}, 0xe0010000);
  EXPECT_EQ(c.read(0x14, 4), 0xe0010000u);
  c.write(0x14, 4, 0xffffffff);
  EXPECT_EQ(c.read(0x14, 4), ~0x3fffu);  // size 16 KiB, 32-bit memory
  c.write(0x14, 4, 0xe0010000);
  EXPECT_EQ(c.read(0x14, 4), 0xe0010000u);
  // BARs stay where vmrun put them.
  c.write(0x14, 4, 0x12340000);
  EXPECT_EQ(c.read(0x14, 4), 0xe0010000u);
  EXPECT_EQ(c.read(0x10, 4), 0u) << "unused BAR";
}

TEST(ConfigSpaceTest, Bar64SizingSpansTwoSlots) {
  ConfigSpace c(1, 2, 0, 0, 0, 0);
  c.set_bar(0, {0x8000, true}, 0x1'2345'0000);
  EXPECT_EQ(c.read(0x10, 4), 0x23450000u | 0x4u);
  EXPECT_EQ(c.read(0x14, 4), 0x1u);
  c.write(0x10, 4, 0xffffffff);
  c.write(0x14, 4, 0xffffffff);
  EXPECT_EQ(c.read(0x10, 4), (~0x7fffu) | 0x4u);
  EXPECT_EQ(c.read(0x14, 4), 0xffffffffu);
  EXPECT_EQ(c.bar_address(0), 0x1'2345'0000u);
}

TEST(ConfigSpaceTest, CapabilitiesFormAList) {
  ConfigSpace c(1, 2, 0, 0, 0, 0);
  const uint8_t body_a[] = {1, 2, 3};
  const uint8_t body_b[] = {9, 9, 9, 9, 9, 9};
  uint8_t a = c.add_capability(0x09, body_a);
  uint8_t b = c.add_capability(0x11, body_b);
  EXPECT_TRUE(c.read(6, 2) & 0x10) << "status: capability list";
  EXPECT_EQ(c.read(0x34, 1), a);
  EXPECT_EQ(c.read(a, 1), 0x09u);
  EXPECT_EQ(c.read(a + 1, 1), b);
  EXPECT_EQ(c.read(b, 1), 0x11u);
  EXPECT_EQ(c.read(b + 1, 1), 0u) << "end of list";
  EXPECT_EQ(b % 4, 0) << "dword aligned";
  EXPECT_EQ(c.read(a + 2, 1), 1u);
}

uint32_t cf8_read(BusDevice& ports, uint32_t address, uint64_t data_offset, size_t len) {
  ports.write(0, std::span(reinterpret_cast<const uint8_t*>(&address), 4));
  uint32_t v = 0;
  ports.read(4 + data_offset, std::span(reinterpret_cast<uint8_t*>(&v), len));
  return v;
}

uint32_t addr(int device, int reg) {
  return 0x80000000u | (static_cast<uint32_t>(device) << 11) | static_cast<uint32_t>(reg);
}

TEST(PciBusTest, HostBridgeAtSlotZeroThroughCf8) {
  PciBus bus;
  auto ports = bus.config_ports();
  EXPECT_EQ(cf8_read(*ports, addr(0, 0), 0, 4) & 0xffff, 0x1b36u);
  EXPECT_EQ(cf8_read(*ports, addr(0, 8), 0, 4) >> 8, 0x060000u) << "host bridge class";
  // The latched address reads back.
  uint32_t latched = 0;
  ports->read(0, std::span(reinterpret_cast<uint8_t*>(&latched), 4));
  EXPECT_EQ(latched, addr(0, 8));
}

TEST(PciBusTest, EmptySlotsAndDisabledCyclesReadAllOnes) {
  PciBus bus;
  auto ports = bus.config_ports();
  EXPECT_EQ(cf8_read(*ports, addr(5, 0), 0, 4), 0xffffffffu);
  EXPECT_EQ(cf8_read(*ports, addr(0, 0) & ~0x80000000u, 0, 4), 0xffffffffu);
  EXPECT_EQ(cf8_read(*ports, addr(0, 0) | (1u << 16), 0, 4), 0xffffffffu) << "bus 1";
  EXPECT_EQ(cf8_read(*ports, addr(0, 0) | (1u << 8), 0, 4), 0xffffffffu) << "function 1";
}

TEST(PciBusTest, ByteAndWordAccessesWithinTheDword) {
  PciBus bus;
  auto fn = std::make_shared<TestFunction>();
  Bus mmio("mmio");
  ASSERT_EQ(bus.add(fn, {}, mmio).value(), 1);
  auto ports = bus.config_ports();
  EXPECT_EQ(cf8_read(*ports, addr(1, 0), 2, 2), 0x5678u) << "device ID via 0xcfe";
  EXPECT_EQ(cf8_read(*ports, addr(1, 8), 3, 1), 0x02u) << "class via 0xcff";
}

TEST(PciBusTest, AddPlacesAlignedBarsInTheWindowAndMapsThem) {
  PciBus bus;
  Bus mmio("mmio");
  auto a = std::make_shared<TestFunction>();
  auto b = std::make_shared<TestFunction>();
  ASSERT_EQ(bus.add(a, {{0x1000, false}}, mmio).value(), 1);
  ASSERT_EQ(bus.add(b, {{0x8000, true}}, mmio).value(), 2);
  uint64_t bar_a = *a->config().bar_address(0), bar_b = *b->config().bar_address(0);
  EXPECT_GE(bar_a, PciBus::kMmioWindowStart);
  EXPECT_EQ(bar_b % 0x8000, 0u) << "naturally aligned";
  EXPECT_GE(bar_b, bar_a + 0x1000) << "no overlap";
  EXPECT_LE(bar_b + 0x8000, PciBus::kMmioWindowEnd);
  uint8_t byte = 0;
  ASSERT_TRUE(mmio.read(bar_b + 0x123, std::span(&byte, 1)));
  EXPECT_EQ(b->handler->last_offset, 0x123u) << "handler sees BAR-relative offsets";
  EXPECT_EQ(byte, 0xab);
}

TEST(PciBusTest, FullBusIsAnError) {
  PciBus bus;
  Bus mmio("mmio");
  for (int i = 1; i < PciBus::kMaxDevices; ++i) {
    ASSERT_TRUE(bus.add(std::make_shared<TestFunction>(), {}, mmio).ok());
  }
  EXPECT_FALSE(bus.add(std::make_shared<TestFunction>(), {}, mmio).ok());
}

TEST(PciBusTest, EcamReachesTheSameConfigSpace) {
  PciBus bus;
  Bus mmio("mmio");
  auto fn = std::make_shared<TestFunction>();
  ASSERT_EQ(bus.add(fn, {}, mmio).value(), 1);
  auto ecam = bus.ecam();
  uint32_t v = 0;
  ecam->read((1u << 15) + 0, std::span(reinterpret_cast<uint8_t*>(&v), 4));
  EXPECT_EQ(v, 0x56781234u);
  uint16_t cmd = 0x0006;
  ecam->write((1u << 15) + 4, std::span(reinterpret_cast<const uint8_t*>(&cmd), 2));
  EXPECT_EQ(fn->config().command(), 0x0006);
  ecam->read((1u << 15) + (1u << 12), std::span(reinterpret_cast<uint8_t*>(&v), 4));
  EXPECT_EQ(v, 0xffffffffu) << "function 1 does not exist";
  ecam->read((1u << 15) + 0x100, std::span(reinterpret_cast<uint8_t*>(&v), 4));
  EXPECT_EQ(v, 0xffffffffu) << "no extended config space";
}

// ---- MSI-X ----

struct MsixHarness {
  std::vector<std::tuple<uint16_t, uint64_t, uint32_t>> routes;
  std::vector<uint16_t> fired;
  Msix msix{3, [this](uint16_t v, uint64_t a, uint32_t d) { routes.emplace_back(v, a, d); },
            [this](uint16_t v) { fired.push_back(v); }};

  void write_entry(uint16_t v, uint64_t address, uint32_t data, bool masked) {
    uint32_t fields[4] = {static_cast<uint32_t>(address), static_cast<uint32_t>(address >> 32),
                          data, masked ? 1u : 0u};
    for (int i = 0; i < 4; ++i) {
      msix.table_write(v * 16 + i * 4, std::span(reinterpret_cast<const uint8_t*>(&fields[i]), 4));
    }
  }
  uint8_t pba() {
    uint8_t b = 0;
    msix.pba_read(0, std::span(&b, 1));
    return b;
  }
};

TEST(MsixTest, CapabilityBodyDescribesTableAndPba) {
  MsixHarness h;
  auto body = h.msix.capability_body(0, 0x4000, 0x6000);
  ASSERT_EQ(body.size(), 10u);
  uint16_t control;
  uint32_t table, pba;
  std::memcpy(&control, &body[0], 2);
  std::memcpy(&table, &body[2], 4);
  std::memcpy(&pba, &body[6], 4);
  EXPECT_EQ(control, 2) << "table size - 1";
  EXPECT_EQ(table, 0x4000u);
  EXPECT_EQ(pba, 0x6000u);
}

TEST(MsixTest, VectorsStartMaskedAndInterruptsWaitInThePba) {
  MsixHarness h;
  h.msix.set_control(0x8000);  // enable
  h.msix.trigger(1);
  EXPECT_TRUE(h.fired.empty());
  EXPECT_EQ(h.pba(), 0x02);
  h.write_entry(1, 0xfee00000, 0x41, false);  // program and unmask
  ASSERT_EQ(h.fired.size(), 1u);
  EXPECT_EQ(h.fired[0], 1);
  EXPECT_EQ(h.pba(), 0x00);
  h.msix.trigger(1);
  EXPECT_EQ(h.fired.size(), 2u) << "unmasked: delivered at once";
}

TEST(MsixTest, RoutesFollowTheTable) {
  MsixHarness h;
  h.write_entry(0, 0xfee01000, 0x22, false);
  EXPECT_TRUE(h.routes.empty()) << "not enabled yet";
  h.msix.set_control(0x8000);
  ASSERT_EQ(h.routes.size(), 3u) << "enabling routes every vector";
  EXPECT_EQ(h.routes[0], std::make_tuple(uint16_t{0}, uint64_t{0xfee01000}, uint32_t{0x22}));
  h.write_entry(2, 0xfee02000, 0x33, false);
  EXPECT_EQ(h.routes.back(), std::make_tuple(uint16_t{2}, uint64_t{0xfee02000}, uint32_t{0x33}));
}

TEST(MsixTest, FunctionMaskHoldsEveryVector) {
  MsixHarness h;
  h.write_entry(0, 0xfee00000, 1, false);
  h.msix.set_control(0x8000 | 0x4000);
  h.msix.trigger(0);
  EXPECT_TRUE(h.fired.empty());
  h.msix.set_control(0x8000);
  EXPECT_EQ(h.fired.size(), 1u);
}

TEST(MsixTest, DisabledMsixDeliversNothing) {
  MsixHarness h;
  h.write_entry(0, 0xfee00000, 1, false);
  h.msix.trigger(0);
  EXPECT_TRUE(h.fired.empty());
  EXPECT_FALSE(h.msix.enabled());
}

// The mask callback (an irqfd vhost also signals is detached while masked)
// hears each change of a vector's deliverability once, in order, before a
// pending vector fires.
TEST(MsixTest, MaskChangesAreReportedOnceBeforePendingFires) {
  std::vector<std::string> events;
  Msix msix{2, [](uint16_t, uint64_t, uint32_t) {},
            [&](uint16_t v) { events.push_back("fire" + std::to_string(v)); },
            [&](uint16_t v, bool masked) {
              events.push_back((masked ? "mask" : "unmask") + std::to_string(v));
            }};
  auto write_control = [&](uint16_t v, uint32_t control) {
    msix.table_write(v * 16 + 12, std::span(reinterpret_cast<const uint8_t*>(&control), 4));
  };
  msix.set_control(0x8000);  // enabled, both vectors still masked
  EXPECT_EQ(events, (std::vector<std::string>{"mask0", "mask1"}));
  events.clear();
  msix.trigger(1);
  write_control(1, 0);  // unmask: reported, then the pending interrupt
  EXPECT_EQ(events, (std::vector<std::string>{"unmask1", "fire1"}));
  events.clear();
  write_control(1, 0);  // no change, no report
  msix.set_control(0x8000 | 0x4000);  // function mask: vector 1 held
  msix.set_control(0);                // disabled: still held, no report
  EXPECT_EQ(events, (std::vector<std::string>{"mask1"}));
  events.clear();
  write_control(0, 0);
  msix.set_control(0x8000);
  EXPECT_EQ(events, (std::vector<std::string>{"unmask0", "unmask1"}));
}

TEST(MsixTest, BadAccessesAreIgnored) {
  MsixHarness h;
  uint8_t byte = 0x12;
  h.msix.table_write(0, std::span(&byte, 1));       // 1-byte write
  uint32_t v = 0;
  h.msix.table_write(2, std::span(reinterpret_cast<const uint8_t*>(&v), 4));  // misaligned
  h.msix.table_write(3 * 16, std::span(reinterpret_cast<const uint8_t*>(&v), 4));  // past end
  h.msix.table_read(3 * 16, std::span(reinterpret_cast<uint8_t*>(&v), 4));
  EXPECT_EQ(v, 0xffffffffu);
  h.msix.table_read(12, std::span(reinterpret_cast<uint8_t*>(&v), 4));
  EXPECT_EQ(v, 1u) << "vector 0 still masked";
  h.msix.trigger(7);  // no such vector
  EXPECT_TRUE(h.fired.empty());
}

}  // namespace
}  // namespace vmrun::devices::pci
