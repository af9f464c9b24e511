// C layouts of the KVM structs that end in a flexible array. Debian's 6.1
// uapi headers declare those arrays with __DECLARE_FLEX_ARRAY, which in C++
// puts a one-byte empty struct before the array: sizeof(kvm_cpuid2) is 12
// there instead of 8, so the ioctl numbers built from it (KVM_SET_CPUID2,
// KVM_SET_MSRS, ...) and the array offsets are wrong. Use these instead.
#pragma once

#include <linux/kvm.h>

#include <cstdint>

namespace vmrun::kvm_abi {

struct Cpuid2Header {  // struct kvm_cpuid2 without its entries
  uint32_t nent;
  uint32_t padding;
};

struct MsrsHeader {  // struct kvm_msrs without its entries
  uint32_t nmsrs;
  uint32_t pad;
};

struct IrqRoutingHeader {  // struct kvm_irq_routing without its entries
  uint32_t nr;
  uint32_t flags;
};

constexpr unsigned long kGetSupportedCpuid = _IOWR(KVMIO, 0x05, Cpuid2Header);
constexpr unsigned long kSetCpuid2 = _IOW(KVMIO, 0x90, Cpuid2Header);
constexpr unsigned long kSetMsrs = _IOW(KVMIO, 0x89, MsrsHeader);
constexpr unsigned long kSetGsiRouting = _IOW(KVMIO, 0x6a, IrqRoutingHeader);

static_assert(kGetSupportedCpuid == 0xc008ae05, "KVM_GET_SUPPORTED_CPUID");
static_assert(kSetCpuid2 == 0x4008ae90, "KVM_SET_CPUID2");
static_assert(kSetMsrs == 0x4008ae89, "KVM_SET_MSRS");
static_assert(kSetGsiRouting == 0x4008ae6a, "KVM_SET_GSI_ROUTING");

}  // namespace vmrun::kvm_abi
