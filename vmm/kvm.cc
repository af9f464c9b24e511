#include "vmm/kvm.h"

#include "vmm/kvm_abi.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstring>

namespace vmrun {
namespace {

Result<void> check(int rc, const char* what) {
  if (rc < 0) return Error::from_errno(what);
  return ok();
}

}  // namespace

VcpuFd::~VcpuFd() {
  if (run_ != nullptr) munmap(run_, run_size_);
}

int VcpuFd::run() { return ioctl(fd_.get(), KVM_RUN, 0); }

Result<kvm_regs> VcpuFd::get_regs() {
  kvm_regs regs{};
  VMRUN_TRY(check(ioctl(fd_.get(), KVM_GET_REGS, &regs), "KVM_GET_REGS"));
  return regs;
}

Result<void> VcpuFd::set_regs(const kvm_regs& regs) {
  return check(ioctl(fd_.get(), KVM_SET_REGS, &regs), "KVM_SET_REGS");
}

Result<kvm_sregs> VcpuFd::get_sregs() {
  kvm_sregs sregs{};
  VMRUN_TRY(check(ioctl(fd_.get(), KVM_GET_SREGS, &sregs), "KVM_GET_SREGS"));
  return sregs;
}

Result<void> VcpuFd::set_sregs(const kvm_sregs& sregs) {
  return check(ioctl(fd_.get(), KVM_SET_SREGS, &sregs), "KVM_SET_SREGS");
}

Result<kvm_fpu> VcpuFd::get_fpu() {
  kvm_fpu fpu{};
  VMRUN_TRY(check(ioctl(fd_.get(), KVM_GET_FPU, &fpu), "KVM_GET_FPU"));
  return fpu;
}

Result<void> VcpuFd::set_guest_debug(const kvm_guest_debug& debug) {
  return check(ioctl(fd_.get(), KVM_SET_GUEST_DEBUG, &debug), "KVM_SET_GUEST_DEBUG");
}

Result<void> VcpuFd::kvmclock_paused() {
  return check(ioctl(fd_.get(), KVM_KVMCLOCK_CTRL, 0), "KVM_KVMCLOCK_CTRL");
}

Result<kvm_translation> VcpuFd::translate(uint64_t gva) {
  kvm_translation t{};
  t.linear_address = gva;
  VMRUN_TRY(check(ioctl(fd_.get(), KVM_TRANSLATE, &t), "KVM_TRANSLATE"));
  return t;
}

Result<kvm_vcpu_events> VcpuFd::get_vcpu_events() {
  kvm_vcpu_events e{};
  VMRUN_TRY(check(ioctl(fd_.get(), KVM_GET_VCPU_EVENTS, &e), "KVM_GET_VCPU_EVENTS"));
  return e;
}

Result<void> VcpuFd::set_vcpu_events(const kvm_vcpu_events& events) {
  return check(ioctl(fd_.get(), KVM_SET_VCPU_EVENTS, &events), "KVM_SET_VCPU_EVENTS");
}

Result<void> VcpuFd::set_fpu(const kvm_fpu& fpu) {
  return check(ioctl(fd_.get(), KVM_SET_FPU, &fpu), "KVM_SET_FPU");
}

// A header struct followed by its entries, laid out as the kernel expects.
template <class Header, class Entry>
std::vector<uint8_t> flex_buffer(const std::vector<Entry>& entries) {
  std::vector<uint8_t> buf(sizeof(Header) + entries.size() * sizeof(Entry));
  if (!entries.empty()) {
    std::memcpy(buf.data() + sizeof(Header), entries.data(),
                entries.size() * sizeof(Entry));
  }
  return buf;
}

Result<void> VcpuFd::set_cpuid(const std::vector<kvm_cpuid_entry2>& entries) {
  auto buf = flex_buffer<kvm_abi::Cpuid2Header>(entries);
  reinterpret_cast<kvm_abi::Cpuid2Header*>(buf.data())->nent =
      static_cast<uint32_t>(entries.size());
  return check(ioctl(fd_.get(), kvm_abi::kSetCpuid2, buf.data()),
               "KVM_SET_CPUID2");
}

Result<void> VcpuFd::set_msrs(const std::vector<kvm_msr_entry>& msrs) {
  auto buf = flex_buffer<kvm_abi::MsrsHeader>(msrs);
  reinterpret_cast<kvm_abi::MsrsHeader*>(buf.data())->nmsrs =
      static_cast<uint32_t>(msrs.size());
  int rc = ioctl(fd_.get(), kvm_abi::kSetMsrs, buf.data());
  if (rc < 0) return Error::from_errno("KVM_SET_MSRS");
  // KVM stops at the first MSR it refuses and returns how many it set.
  if (static_cast<size_t>(rc) != msrs.size()) {
    return Error("KVM_SET_MSRS: refused MSR index " +
                 std::to_string(msrs[static_cast<size_t>(rc)].index));
  }
  return ok();
}

Result<kvm_lapic_state> VcpuFd::get_lapic() {
  kvm_lapic_state s{};
  VMRUN_TRY(check(ioctl(fd_.get(), KVM_GET_LAPIC, &s), "KVM_GET_LAPIC"));
  return s;
}

Result<void> VcpuFd::set_lapic(const kvm_lapic_state& lapic) {
  return check(ioctl(fd_.get(), KVM_SET_LAPIC, &lapic), "KVM_SET_LAPIC");
}

Result<void> VmFd::set_user_memory_region(uint32_t slot, uint64_t gpa,
                                          uint64_t size, void* host) {
  kvm_userspace_memory_region region{};
  region.slot = slot;
  region.guest_phys_addr = gpa;
  region.memory_size = size;
  region.userspace_addr = reinterpret_cast<uint64_t>(host);
  return check(ioctl(fd_.get(), KVM_SET_USER_MEMORY_REGION, &region),
               "KVM_SET_USER_MEMORY_REGION");
}

Result<void> VmFd::set_tss_addr(uint64_t addr) {
  return check(ioctl(fd_.get(), KVM_SET_TSS_ADDR, addr), "KVM_SET_TSS_ADDR");
}

Result<void> VmFd::set_identity_map_addr(uint64_t addr) {
  return check(ioctl(fd_.get(), KVM_SET_IDENTITY_MAP_ADDR, &addr),
               "KVM_SET_IDENTITY_MAP_ADDR");
}

Result<void> VmFd::create_irqchip() {
  return check(ioctl(fd_.get(), KVM_CREATE_IRQCHIP, 0), "KVM_CREATE_IRQCHIP");
}

Result<void> VmFd::create_pit2() {
  kvm_pit_config config{};
  // The speaker port (0x61) then reads as a plain PIT gate, which is all
  // Linux needs for its timer calibration.
  config.flags = KVM_PIT_SPEAKER_DUMMY;
  return check(ioctl(fd_.get(), KVM_CREATE_PIT2, &config), "KVM_CREATE_PIT2");
}

Result<void> VmFd::irq_line(uint32_t irq, bool level) {
  kvm_irq_level l{};
  l.irq = irq;
  l.level = level ? 1 : 0;
  return check(ioctl(fd_.get(), KVM_IRQ_LINE, &l), "KVM_IRQ_LINE");
}

Result<void> VmFd::ioeventfd(uint64_t addr, uint32_t len, int fd) {
  kvm_ioeventfd e{};
  e.addr = addr;
  e.len = len;
  e.fd = fd;
  return check(ioctl(fd_.get(), KVM_IOEVENTFD, &e), "KVM_IOEVENTFD");
}

Result<void> VmFd::irqfd(int fd, uint32_t gsi) {
  kvm_irqfd e{};
  e.fd = static_cast<uint32_t>(fd);
  e.gsi = gsi;
  return check(ioctl(fd_.get(), KVM_IRQFD, &e), "KVM_IRQFD");
}

Result<void> VmFd::irqfd_deassign(int fd, uint32_t gsi) {
  kvm_irqfd e{};
  e.fd = static_cast<uint32_t>(fd);
  e.gsi = gsi;
  e.flags = KVM_IRQFD_FLAG_DEASSIGN;
  return check(ioctl(fd_.get(), KVM_IRQFD, &e), "KVM_IRQFD deassign");
}

Result<void> VmFd::irqfd_resample(int fd, uint32_t gsi, int resample_fd) {
  kvm_irqfd e{};
  e.fd = static_cast<uint32_t>(fd);
  e.gsi = gsi;
  e.flags = KVM_IRQFD_FLAG_RESAMPLE;
  e.resamplefd = static_cast<uint32_t>(resample_fd);
  return check(ioctl(fd_.get(), KVM_IRQFD, &e), "KVM_IRQFD resample");
}

Result<void> VmFd::set_gsi_routing(
    const std::vector<kvm_irq_routing_entry>& routes) {
  auto buf = flex_buffer<kvm_abi::IrqRoutingHeader>(routes);
  reinterpret_cast<kvm_abi::IrqRoutingHeader*>(buf.data())->nr =
      static_cast<uint32_t>(routes.size());
  return check(ioctl(fd_.get(), kvm_abi::kSetGsiRouting, buf.data()),
               "KVM_SET_GSI_ROUTING");
}

Result<std::unique_ptr<VcpuFd>> VmFd::create_vcpu(int id) {
  int fd = ioctl(fd_.get(), KVM_CREATE_VCPU, id);
  if (fd < 0) return Error::from_errno("KVM_CREATE_VCPU " + std::to_string(id));
  UniqueFd vcpu(fd);
  void* run = mmap(nullptr, static_cast<size_t>(vcpu_mmap_size_),
                   PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (run == MAP_FAILED) return Error::from_errno("mmap kvm_run");
  return std::make_unique<VcpuFd>(std::move(vcpu), static_cast<kvm_run*>(run),
                                  static_cast<size_t>(vcpu_mmap_size_));
}

int VmFd::check_extension(long cap) const {
  int rc = ioctl(fd_.get(), KVM_CHECK_EXTENSION, cap);
  return rc < 0 ? 0 : rc;
}

Result<Kvm> Kvm::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return Error::from_errno("cannot open " + path);
  Kvm kvm{UniqueFd(fd)};
  int version = ioctl(fd, KVM_GET_API_VERSION, 0);
  if (version != KVM_API_VERSION) {
    return Error(path + ": KVM API version " + std::to_string(version) +
                 ", expected " + std::to_string(KVM_API_VERSION));
  }
  return kvm;
}

int Kvm::check_extension(long cap) const {
  int rc = ioctl(fd_.get(), KVM_CHECK_EXTENSION, cap);
  return rc < 0 ? 0 : rc;
}

int Kvm::max_vcpus() const {
  int n = check_extension(KVM_CAP_MAX_VCPUS);
  if (n <= 0) n = check_extension(KVM_CAP_NR_VCPUS);
  return n > 0 ? n : 4;  // The API documents 4 when neither cap answers.
}

Result<std::vector<kvm_cpuid_entry2>> Kvm::supported_cpuid() const {
  constexpr uint32_t kMaxEntries = 256;
  std::vector<kvm_cpuid_entry2> entries(kMaxEntries);
  auto buf = flex_buffer<kvm_abi::Cpuid2Header>(entries);
  auto* header = reinterpret_cast<kvm_abi::Cpuid2Header*>(buf.data());
  header->nent = kMaxEntries;
  if (ioctl(fd_.get(), kvm_abi::kGetSupportedCpuid, buf.data()) < 0) {
    return Error::from_errno("KVM_GET_SUPPORTED_CPUID");
  }
  entries.resize(std::min(header->nent, kMaxEntries));
  std::memcpy(entries.data(), buf.data() + sizeof(kvm_abi::Cpuid2Header),
              entries.size() * sizeof(kvm_cpuid_entry2));
  return entries;
}

Result<VmFd> Kvm::create_vm() const {
  int mmap_size = ioctl(fd_.get(), KVM_GET_VCPU_MMAP_SIZE, 0);
  if (mmap_size <= 0) return Error::from_errno("KVM_GET_VCPU_MMAP_SIZE");
  int fd = ioctl(fd_.get(), KVM_CREATE_VM, 0);
  if (fd < 0) return Error::from_errno("KVM_CREATE_VM");
  return VmFd(UniqueFd(fd), mmap_size);
}

}  // namespace vmrun
