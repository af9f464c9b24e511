// The pure parts of vCPU setup: CPUID per vCPU, long-mode segment and
// control registers, boot registers, and the boot GDT they must agree with.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "vmm/guest_memory.h"
#include "vmm/x86/cpu_setup.h"
#include "vmm/x86/layout.h"

namespace vmrun::x86 {
namespace {

constexpr uint64_t kCr0Pe = 1ull << 0, kCr0Pg = 1ull << 31;
constexpr uint64_t kCr4Pae = 1ull << 5;
constexpr uint64_t kEferLme = 1ull << 8, kEferLma = 1ull << 10;

kvm_cpuid_entry2 leaf(uint32_t function, uint32_t index, uint32_t eax,
                      uint32_t ebx, uint32_t ecx, uint32_t edx) {
  kvm_cpuid_entry2 e{};
  e.function = function;
  e.index = index;
  e.eax = eax;
  e.ebx = ebx;
  e.ecx = ecx;
  e.edx = edx;
  return e;
}

// Something like what KVM_GET_SUPPORTED_CPUID returns.
std::vector<kvm_cpuid_entry2> supported() {
  return {
      leaf(0x0, 0, 0x1f, 0x756e6547, 0x6c65746e, 0x49656e69),
      // EBX: APIC id 0xaa and count 0xbb from the host, CLFLUSH 8, brand 1.
      leaf(0x1, 0, 0x000906ea, 0xaabb0801, 0x7ffafbbf, 0x0fabfbff),
      leaf(0x7, 0, 0, 0x029c6fbf, 0x40000000, 0xbc000400),
      leaf(0xb, 0, 0x1, 0x1, 0x100, 0x77),
      leaf(0xb, 1, 0x4, 0x4, 0x201, 0x77),
      leaf(0x1f, 0, 0x1, 0x1, 0x100, 0x77),
      leaf(0x8000001e, 0, 0x55, 0x100, 0, 0),
      leaf(0x80000008, 0, 0x3027, 0, 0, 0),
  };
}

const kvm_cpuid_entry2& find(const std::vector<kvm_cpuid_entry2>& v,
                             uint32_t function, uint32_t index = 0) {
  for (const auto& e : v) {
    if (e.function == function && e.index == index) return e;
  }
  ADD_FAILURE() << "no leaf " << std::hex << function;
  static kvm_cpuid_entry2 none{};
  return none;
}

bool same(const kvm_cpuid_entry2& a, const kvm_cpuid_entry2& b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

TEST(CpuidTest, Leaf1CarriesApicIdAndCount) {
  for (auto [index, count] : {std::pair{0, 1}, {1, 2}, {3, 4}, {199, 200}}) {
    auto out = cpuid_for_vcpu(supported(), index, count);
    const auto& l1 = find(out, 1);
    EXPECT_EQ(l1.ebx >> 24, static_cast<uint32_t>(index));
    EXPECT_EQ((l1.ebx >> 16) & 0xff, static_cast<uint32_t>(count));
    EXPECT_EQ(l1.ebx & 0xffff, 0x0801u);  // CLFLUSH size and brand kept
    EXPECT_TRUE(l1.ecx & (1u << 31)) << "hypervisor bit";
    EXPECT_EQ(l1.ecx & 0x7fffffff, 0x7ffafbbfu);
    EXPECT_EQ(l1.eax, 0x000906eau);
  }
}

TEST(CpuidTest, HttOnlyWithSeveralCpus) {
  auto base = supported();
  base[1].edx &= ~(1u << 28);
  auto one = cpuid_for_vcpu(base, 0, 1);
  EXPECT_FALSE(find(one, 1).edx & (1u << 28));
  auto two = cpuid_for_vcpu(base, 1, 2);
  EXPECT_TRUE(find(two, 1).edx & (1u << 28));
}

TEST(CpuidTest, TopologyLeavesCarryX2ApicId) {
  auto out = cpuid_for_vcpu(supported(), 5, 8);
  EXPECT_EQ(find(out, 0xb, 0).edx, 5u);
  EXPECT_EQ(find(out, 0xb, 1).edx, 5u);
  EXPECT_EQ(find(out, 0x1f, 0).edx, 5u);
  EXPECT_EQ(find(out, 0x8000001e).eax, 5u);
  // The rest of those leaves is KVM's.
  EXPECT_EQ(find(out, 0xb, 1).ecx, 0x201u);
  EXPECT_EQ(find(out, 0xb, 1).eax, 0x4u);
}

TEST(CpuidTest, OtherLeavesUntouched) {
  auto in = supported();
  auto out = cpuid_for_vcpu(in, 3, 4);
  ASSERT_EQ(out.size(), in.size());
  EXPECT_TRUE(same(find(out, 0x0), find(in, 0x0)));
  EXPECT_TRUE(same(find(out, 0x7), find(in, 0x7)));
  EXPECT_TRUE(same(find(out, 0x80000008), find(in, 0x80000008)));
}

// ---- long mode ----

kvm_sregs reset_sregs() {
  kvm_sregs s{};
  s.cr0 = 0x60000010;  // what KVM_GET_SREGS shows after reset
  s.cr4 = 0x0;
  s.efer = 0x1;        // SCE, to check other bits survive
  s.apic_base = 0xfee00900;
  return s;
}

TEST(LongModeSregsTest, ControlRegisters) {
  kvm_sregs s = long_mode_sregs(reset_sregs(), 0x9000);
  EXPECT_EQ(s.cr0 & (kCr0Pe | kCr0Pg), kCr0Pe | kCr0Pg);
  EXPECT_TRUE(s.cr4 & kCr4Pae);
  EXPECT_EQ(s.efer & (kEferLme | kEferLma), kEferLme | kEferLma);
  EXPECT_TRUE(s.efer & 1) << "existing EFER bits kept";
  EXPECT_EQ(s.cr3, 0x9000u);
  EXPECT_EQ(s.apic_base, 0xfee00900u);
}

TEST(LongModeSregsTest, CodeSegmentIs64Bit) {
  kvm_sregs s = long_mode_sregs(reset_sregs(), 0x9000);
  EXPECT_EQ(s.cs.selector, 0x08);
  EXPECT_EQ(s.cs.l, 1);
  EXPECT_EQ(s.cs.db, 0);  // L=1 with D=1 is reserved
  EXPECT_EQ(s.cs.present, 1);
  EXPECT_EQ(s.cs.s, 1);
  EXPECT_TRUE(s.cs.type & 0x8) << "code";
  EXPECT_EQ(s.cs.dpl, 0);
  EXPECT_EQ(s.cs.base, 0u);
}

TEST(LongModeSregsTest, DataSegments) {
  kvm_sregs s = long_mode_sregs(reset_sregs(), 0x9000);
  for (const kvm_segment* seg : {&s.ds, &s.es, &s.fs, &s.gs, &s.ss}) {
    EXPECT_EQ(seg->selector, 0x10);
    EXPECT_EQ(seg->present, 1);
    EXPECT_EQ(seg->s, 1);
    EXPECT_FALSE(seg->type & 0x8) << "data, not code";
    EXPECT_TRUE(seg->type & 0x2) << "writable";
    EXPECT_EQ(seg->l, 0);
    EXPECT_EQ(seg->base, 0u);
    EXPECT_EQ(seg->dpl, 0);
  }
}

TEST(LongModeSregsTest, TaskRegisterAndDescriptorTables) {
  kvm_sregs s = long_mode_sregs(reset_sregs(), 0x9000);
  EXPECT_EQ(s.tr.selector, 0x18);
  EXPECT_EQ(s.tr.type, 0xb);  // busy 64-bit TSS
  EXPECT_EQ(s.tr.s, 0);
  EXPECT_EQ(s.tr.present, 1);
  EXPECT_EQ(s.gdt.base, kGdtAddr);
  EXPECT_EQ(s.gdt.limit, 4 * 8 - 1);
  EXPECT_EQ(s.idt.base, kIdtAddr);
}

uint64_t gdt_descriptor(const GuestMemory& mem, uint16_t selector) {
  uint64_t d = 0;
  EXPECT_TRUE(mem.read(kGdtAddr + selector,
                       {reinterpret_cast<uint8_t*>(&d), sizeof d}).ok());
  return d;
}

// The hidden segment state must match what reloading from the GDT gives.
TEST(BootGdtTest, DescriptorsMatchTheSegmentRegisters) {
  auto mem = GuestMemory::create({{0, 1ull << 20}});
  ASSERT_TRUE(mem.ok());
  ASSERT_TRUE(write_boot_gdt(*mem.value()).ok());
  kvm_sregs s = long_mode_sregs(reset_sregs(), 0x9000);
  EXPECT_EQ(gdt_descriptor(*mem.value(), 0), 0u);
  for (const kvm_segment* seg : {&s.cs, &s.ds, &s.tr}) {
    uint64_t d = gdt_descriptor(*mem.value(), seg->selector);
    uint8_t access = static_cast<uint8_t>(d >> 40);
    uint8_t flags = static_cast<uint8_t>((d >> 52) & 0xf);
    EXPECT_EQ(access & 0xf, seg->type) << "selector " << seg->selector;
    EXPECT_EQ((access >> 4) & 1, seg->s) << "selector " << seg->selector;
    EXPECT_EQ(access >> 7, seg->present) << "selector " << seg->selector;
    EXPECT_EQ((flags >> 1) & 1, seg->l) << "selector " << seg->selector;
    EXPECT_EQ((flags >> 2) & 1, seg->db) << "selector " << seg->selector;
    uint64_t base = ((d >> 16) & 0xffffff) | ((d >> 32) & 0xff000000);
    EXPECT_EQ(base, seg->base);
  }
}

TEST(BootRegsTest, EntryZeroPageAndFlags) {
  kvm_regs r = boot_regs(0x1000200, kZeroPageAddr);
  EXPECT_EQ(r.rip, 0x1000200u);
  EXPECT_EQ(r.rsi, kZeroPageAddr);
  EXPECT_EQ(r.rflags, 0x2u);  // reserved bit 1 set, interrupts off
  EXPECT_EQ(r.rsp, kBootStackTop);
  EXPECT_EQ(r.rax, 0u);
  EXPECT_EQ(r.rdi, 0u);
}

}  // namespace
}  // namespace vmrun::x86

namespace vmrun::x86 {
namespace {

TEST(CpuidTscDeadlineTest, AdvertisedOnlyWhenKvmEmulatesIt) {
  kvm_cpuid_entry2 leaf1{};
  leaf1.function = 1;
  auto without = cpuid_for_vcpu({leaf1}, 0, 1, false);
  auto with = cpuid_for_vcpu({leaf1}, 0, 1, true);
  EXPECT_EQ(without[0].ecx & (1u << 24), 0u);
  EXPECT_NE(with[0].ecx & (1u << 24), 0u);
}

}  // namespace
}  // namespace vmrun::x86
