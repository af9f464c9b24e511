// The MP table, parsed back the way Linux's mpparse does: signatures,
// checksums, lengths, one processor entry per CPU, the IOAPIC and the ISA
// interrupt routing (vmm/x86/mptable.h).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include "vmm/guest_memory.h"
#include "vmm/x86/layout.h"
#include "vmm/x86/mptable.h"

namespace vmrun::x86 {
namespace {

constexpr size_t kConfigHeaderSize = 44;

uint16_t u16_at(const std::vector<uint8_t>& b, size_t at) {
  uint16_t v;
  std::memcpy(&v, b.data() + at, 2);
  return v;
}
uint32_t u32_at(const std::vector<uint8_t>& b, size_t at) {
  uint32_t v;
  std::memcpy(&v, b.data() + at, 4);
  return v;
}
uint8_t byte_sum(const std::vector<uint8_t>& b) {
  return static_cast<uint8_t>(
      std::accumulate(b.begin(), b.end(), 0u) & 0xff);
}

struct Processor {
  uint8_t apic_id;
  uint8_t flags;
};
struct IoApic {
  uint8_t id;
  uint8_t flags;
  uint32_t addr;
};
struct IoInterrupt {
  uint8_t type, src_bus, src_irq, dst_apic, dst_pin;
};
struct Parsed {
  std::vector<Processor> cpus;
  std::vector<IoApic> ioapics;
  std::vector<IoInterrupt> ioints;
  std::vector<std::string> buses;
  size_t entries = 0;
  bool ok = false;
};

// Walks the entries after the header; fails on an unknown type or overrun.
Parsed parse(const std::vector<uint8_t>& t) {
  Parsed p;
  size_t at = kConfigHeaderSize;
  while (at < t.size()) {
    uint8_t type = t[at];
    size_t len = type == 0 ? 20 : 8;
    if (type > 4 || at + len > t.size()) return p;
    switch (type) {
      case 0: p.cpus.push_back({t[at + 1], t[at + 3]}); break;
      case 1: p.buses.emplace_back(reinterpret_cast<const char*>(&t[at + 2]), 6); break;
      case 2: p.ioapics.push_back({t[at + 1], t[at + 3], u32_at(t, at + 4)}); break;
      case 3:
        p.ioints.push_back({t[at + 1], t[at + 4], t[at + 5], t[at + 6], t[at + 7]});
        break;
      default: break;
    }
    at += len;
    ++p.entries;
  }
  p.ok = true;
  return p;
}

class MpTableTest : public ::testing::TestWithParam<int> {};

TEST_P(MpTableTest, FloatingPointer) {
  const int ncpus = GetParam();
  MpTable t = build_mptable(kMpTableAddr, ncpus);
  ASSERT_EQ(t.floating.size(), 16u);
  EXPECT_EQ(std::string(t.floating.begin(), t.floating.begin() + 4), "_MP_");
  EXPECT_EQ(u32_at(t.floating, 4), kMpTableAddr);
  EXPECT_EQ(t.floating[8], 1);  // length in 16-byte units
  EXPECT_EQ(t.floating[9], 4);  // spec 1.4
  EXPECT_EQ(byte_sum(t.floating), 0);
  EXPECT_EQ(t.floating[11], 0);  // a table follows: no default configuration
}

TEST_P(MpTableTest, ConfigHeader) {
  const int ncpus = GetParam();
  MpTable t = build_mptable(kMpTableAddr, ncpus);
  ASSERT_GE(t.config.size(), kConfigHeaderSize);
  EXPECT_EQ(std::string(t.config.begin(), t.config.begin() + 4), "PCMP");
  EXPECT_EQ(u16_at(t.config, 4), t.config.size());
  EXPECT_EQ(t.config[6], 4);
  EXPECT_EQ(byte_sum(t.config), 0);
  EXPECT_EQ(u32_at(t.config, 36), kLapicAddr);
  EXPECT_EQ(u16_at(t.config, 40), 0);  // no extended table
  // Fixed-width text fields, padded with spaces.
  EXPECT_EQ(std::string(t.config.begin() + 8, t.config.begin() + 16), "VMRUN   ");
  EXPECT_EQ(std::string(t.config.begin() + 16, t.config.begin() + 28),
            "VMRUN-X86   ");
  Parsed p = parse(t.config);
  ASSERT_TRUE(p.ok);
  EXPECT_EQ(u16_at(t.config, 34), p.entries);
}

TEST_P(MpTableTest, OneProcessorPerCpuBspFirst) {
  const int ncpus = GetParam();
  Parsed p = parse(build_mptable(kMpTableAddr, ncpus).config);
  ASSERT_TRUE(p.ok);
  ASSERT_EQ(p.cpus.size(), static_cast<size_t>(ncpus));
  for (int i = 0; i < ncpus; ++i) {
    EXPECT_EQ(p.cpus[i].apic_id, i);
    EXPECT_TRUE(p.cpus[i].flags & 0x01) << "cpu " << i << " not enabled";
    EXPECT_EQ((p.cpus[i].flags & 0x02) != 0, i == 0) << "BSP flag on cpu " << i;
  }
}

TEST_P(MpTableTest, IoApicAndIsaRouting) {
  const int ncpus = GetParam();
  Parsed p = parse(build_mptable(kMpTableAddr, ncpus).config);
  ASSERT_TRUE(p.ok);
  ASSERT_EQ(p.ioapics.size(), 1u);
  EXPECT_EQ(p.ioapics[0].id, ncpus);  // the first APIC id no CPU uses
  EXPECT_TRUE(p.ioapics[0].flags & 0x01);
  EXPECT_EQ(p.ioapics[0].addr, 0xfec00000u);
  // Bus IDs: PCI bus 0 must be MP bus 0; ISA is bus 1.
  ASSERT_EQ(p.buses.size(), 2u);
  EXPECT_EQ(p.buses[0], "PCI   ");
  EXPECT_EQ(p.buses[1], "ISA   ");
  ASSERT_EQ(p.ioints.size(), 16u + 31u);
  for (int irq = 0; irq < 16; ++irq) {
    EXPECT_EQ(p.ioints[irq].type, 0) << irq;  // INT
    EXPECT_EQ(p.ioints[irq].src_bus, 1) << irq;
    EXPECT_EQ(p.ioints[irq].src_irq, irq);
    EXPECT_EQ(p.ioints[irq].dst_apic, ncpus) << irq;
    EXPECT_EQ(p.ioints[irq].dst_pin, irq);
  }
  // Every PCI slot's INTA# goes to the pin pci_intx_gsi() names, which is
  // what vmrun raises for a device in that slot.
  for (int slot = 1; slot < 32; ++slot) {
    const auto& e = p.ioints[15 + static_cast<size_t>(slot)];
    EXPECT_EQ(e.src_bus, 0) << slot;
    EXPECT_EQ(e.src_irq, slot << 2) << slot;
    EXPECT_EQ(e.dst_pin, static_cast<int>(pci_intx_gsi(slot))) << slot;
    EXPECT_GE(e.dst_pin, 16);
    EXPECT_LT(e.dst_pin, 24) << "the IOAPIC has 24 pins";
  }
}

INSTANTIATE_TEST_SUITE_P(CpuCounts, MpTableTest,
                         ::testing::Values(1, 2, 8, 200, kMaxMpCpus));

TEST(WriteMpTableTest, WritesBothPartsAtTheirAddresses) {
  auto mem = GuestMemory::create({{0, 1ull << 20}});
  ASSERT_TRUE(mem.ok());
  ASSERT_TRUE(write_mptable(*mem.value(), 200).ok());
  MpTable expected = build_mptable(kMpTableAddr, 200);
  std::vector<uint8_t> floating(16), config(expected.config.size());
  ASSERT_TRUE(mem.value()->read(kMpFloatingAddr, floating).ok());
  ASSERT_TRUE(mem.value()->read(kMpTableAddr, config).ok());
  EXPECT_EQ(floating, expected.floating);
  EXPECT_EQ(config, expected.config);
  EXPECT_EQ(u32_at(floating, 4), kMpTableAddr);
  // Linux scans the last KiB of base memory (below 640 KiB) for "_MP_".
  EXPECT_GE(kMpFloatingAddr, kEbdaEnd - 1024);
  EXPECT_LE(kMpFloatingAddr + 16, kEbdaEnd);
  EXPECT_LE(kMpTableAddr + config.size(), kMpFloatingAddr);
}

TEST(WriteMpTableTest, MaxCpusFits) {
  auto mem = GuestMemory::create({{0, 1ull << 20}});
  ASSERT_TRUE(mem.ok());
  EXPECT_TRUE(write_mptable(*mem.value(), kMaxMpCpus).ok());
}

TEST(WriteMpTableTest, FailsWithoutLowMemory) {
  auto mem = GuestMemory::create({{0, kMpTableAddr}});
  ASSERT_TRUE(mem.ok());
  EXPECT_FALSE(write_mptable(*mem.value(), 1).ok());
}

}  // namespace
}  // namespace vmrun::x86
