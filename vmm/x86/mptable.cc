#include "vmm/x86/mptable.h"

#include <cstring>

#include "vmm/x86/layout.h"

namespace vmrun::x86 {
namespace {

// Entry types and sizes from the MP specification, chapter 4.
constexpr uint8_t kProcessor = 0, kBus = 1, kIoApic = 2, kIoInterrupt = 3,
                  kLocalInterrupt = 4;
constexpr uint8_t kIntTypeInt = 0, kIntTypeNmi = 1, kIntTypeExtInt = 3;
constexpr uint8_t kCpuEnabled = 1, kCpuBootstrap = 2;
constexpr uint8_t kApicVersion = 0x14;
constexpr uint8_t kIoApicVersion = 0x11;
constexpr int kIsaIrqs = 16;
constexpr int kPciSlots = 32;
constexpr uint8_t kPciBusId = 0, kIsaBusId = 1;
constexpr uint16_t kPolarityLow = 0x3, kTriggerLevel = 0xc;

class Writer {
 public:
  void u8(uint8_t v) { bytes_.push_back(v); }
  void u16(uint16_t v) { raw(&v, 2); }
  void u32(uint32_t v) { raw(&v, 4); }
  // A fixed-width text field, padded with spaces.
  void str(const char* s, size_t n) {
    size_t len = strnlen(s, n);
    for (size_t i = 0; i < n; ++i) u8(i < len ? static_cast<uint8_t>(s[i]) : ' ');
  }
  void raw(const void* p, size_t n) {
    auto* b = static_cast<const uint8_t*>(p);
    bytes_.insert(bytes_.end(), b, b + n);
  }
  std::vector<uint8_t>& bytes() { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
};

uint8_t checksum(const uint8_t* p, size_t n) {
  uint8_t sum = 0;
  for (size_t i = 0; i < n; ++i) sum = static_cast<uint8_t>(sum + p[i]);
  return static_cast<uint8_t>(-sum);
}

void put_u16(std::vector<uint8_t>& b, size_t at, uint16_t v) {
  std::memcpy(b.data() + at, &v, 2);
}

}  // namespace

uint32_t pci_intx_gsi(int slot) { return 16 + static_cast<uint32_t>(slot % 8); }

MpTable build_mptable(uint64_t config_addr, int num_cpus) {
  const uint8_t ioapic_id = static_cast<uint8_t>(num_cpus);

  // Floating pointer: "_MP_", physical address of the table, length in
  // 16-byte units, spec revision 1.4, checksum, no default configuration.
  Writer f;
  f.str("_MP_", 4);
  f.u32(static_cast<uint32_t>(config_addr));
  f.u8(1);
  f.u8(4);
  f.u8(0);  // checksum, filled below
  for (int i = 0; i < 5; ++i) f.u8(0);
  f.bytes()[10] = checksum(f.bytes().data(), f.bytes().size());

  Writer w;
  // Configuration table header; length, count and checksum filled below.
  w.str("PCMP", 4);
  w.u16(0);
  w.u8(4);
  w.u8(0);
  w.str("VMRUN", 8);
  w.str("VMRUN-X86", 12);
  w.u32(0);
  w.u16(0);
  w.u16(0);
  w.u32(static_cast<uint32_t>(kLapicAddr));
  w.u16(0);
  w.u8(0);
  w.u8(0);

  uint16_t entries = 0;
  for (int cpu = 0; cpu < num_cpus; ++cpu, ++entries) {
    w.u8(kProcessor);
    w.u8(static_cast<uint8_t>(cpu));
    w.u8(kApicVersion);
    w.u8(kCpuEnabled | (cpu == 0 ? kCpuBootstrap : 0));
    w.u32(0x600);    // signature: family 6, as a generic modern CPU
    w.u32(0x201);    // features: FPU and APIC
    w.u32(0);
    w.u32(0);
  }
  // PCI bus 0 must have MP bus ID 0 (the ID is the PCI bus number).
  w.u8(kBus);
  w.u8(kPciBusId);
  w.str("PCI", 6);
  ++entries;
  w.u8(kBus);
  w.u8(kIsaBusId);
  w.str("ISA", 6);
  ++entries;
  w.u8(kIoApic);
  w.u8(ioapic_id);
  w.u8(kIoApicVersion);
  w.u8(1);  // enabled
  w.u32(static_cast<uint32_t>(kIoapicAddr));
  ++entries;
  // ISA IRQ n arrives on IOAPIC pin n: KVM's default GSI routing.
  for (int irq = 0; irq < kIsaIrqs; ++irq, ++entries) {
    w.u8(kIoInterrupt);
    w.u8(kIntTypeInt);
    w.u16(0);  // polarity and trigger: conform to the bus (ISA: high, edge)
    w.u8(kIsaBusId);
    w.u8(static_cast<uint8_t>(irq));
    w.u8(ioapic_id);
    w.u8(static_cast<uint8_t>(irq));
  }
  // Each PCI slot's INTA# on its IOAPIC pin (pci_intx_gsi), level-triggered
  // and active low as PCI interrupts are.
  for (int slot = 1; slot < kPciSlots; ++slot, ++entries) {
    w.u8(kIoInterrupt);
    w.u8(kIntTypeInt);
    w.u16(kPolarityLow | kTriggerLevel);
    w.u8(kPciBusId);
    w.u8(static_cast<uint8_t>(slot << 2));  // device in bits 6:2, INTA# = 0
    w.u8(ioapic_id);
    w.u8(static_cast<uint8_t>(pci_intx_gsi(slot)));
  }
  // LINT0 takes the 8259's ExtINT, LINT1 NMI, on every local APIC (0xff).
  for (uint8_t lint = 0; lint < 2; ++lint, ++entries) {
    w.u8(kLocalInterrupt);
    w.u8(lint == 0 ? kIntTypeExtInt : kIntTypeNmi);
    w.u16(0);
    w.u8(0);
    w.u8(0);
    w.u8(0xff);
    w.u8(lint);
  }

  auto& b = w.bytes();
  put_u16(b, 4, static_cast<uint16_t>(b.size()));  // base table length
  put_u16(b, 34, entries);
  b[7] = checksum(b.data(), b.size());
  return {std::move(f.bytes()), std::move(b)};
}

Result<void> write_mptable(const GuestMemory& mem, int num_cpus) {
  auto table = build_mptable(kMpTableAddr, num_cpus);
  if (kMpTableAddr + table.config.size() > kMpFloatingAddr) {
    return Error("MP table for " + std::to_string(num_cpus) +
                 " CPUs does not fit below 640 KiB");
  }
  VMRUN_TRY(mem.write(kMpFloatingAddr, table.floating));
  return mem.write(kMpTableAddr, table.config);
}

}  // namespace vmrun::x86
