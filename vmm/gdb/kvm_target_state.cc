// KvmTarget's access to a stopped guest: registers, memory through the page
// tables, breakpoints. Every call here runs while the vCPUs are parked.
#include <cstring>

#include "vmm/gdb/kvm_target.h"

namespace vmrun::gdb {
namespace {

constexpr uint64_t kPage = 4096;
constexpr uint8_t kInt3 = 0xcc;

// FXSAVE keeps one "not empty" bit per x87 register; gdb wants the FSAVE
// tag word, two bits each. Non-empty is reported as valid (00).
uint32_t full_tag_word(uint8_t abridged) {
  uint32_t tags = 0;
  for (int i = 0; i < 8; ++i) {
    if (!(abridged & (1u << i))) tags |= 3u << (2 * i);
  }
  return tags;
}

uint8_t abridged_tag(uint32_t full) {
  uint8_t out = 0;
  for (int i = 0; i < 8; ++i) {
    if (((full >> (2 * i)) & 3u) != 3u) out |= static_cast<uint8_t>(1u << i);
  }
  return out;
}

// The host byte behind guest-physical `gpa`, or nullptr outside RAM.
uint8_t* byte_at(const GuestMemory& mem, uint64_t gpa) {
  auto span = mem.slice(gpa, 1);
  return span.ok() ? span.value().data() : nullptr;
}

}  // namespace

Result<X86Regs> KvmTarget::read_registers(int thread) {
  VcpuFd& fd = vcpus_[static_cast<size_t>(thread)]->fd();
  const kvm_regs r = VMRUN_TRY(fd.get_regs());
  const kvm_sregs s = VMRUN_TRY(fd.get_sregs());
  const kvm_fpu f = VMRUN_TRY(fd.get_fpu());
  X86Regs x;
  x.rax = r.rax, x.rbx = r.rbx, x.rcx = r.rcx, x.rdx = r.rdx;
  x.rsi = r.rsi, x.rdi = r.rdi, x.rbp = r.rbp, x.rsp = r.rsp;
  x.r8 = r.r8, x.r9 = r.r9, x.r10 = r.r10, x.r11 = r.r11;
  x.r12 = r.r12, x.r13 = r.r13, x.r14 = r.r14, x.r15 = r.r15;
  x.rip = r.rip;
  x.eflags = static_cast<uint32_t>(r.rflags);
  x.cs = s.cs.selector, x.ss = s.ss.selector, x.ds = s.ds.selector;
  x.es = s.es.selector, x.fs = s.fs.selector, x.gs = s.gs.selector;
  x.fs_base = s.fs.base, x.gs_base = s.gs.base;
  for (size_t i = 0; i < 8; ++i) std::memcpy(x.st[i].data(), f.fpr[i], 10);
  x.fctrl = f.fcw, x.fstat = f.fsw, x.ftag = full_tag_word(f.ftwx);
  x.fioff = static_cast<uint32_t>(f.last_ip), x.fooff = static_cast<uint32_t>(f.last_dp);
  x.fop = f.last_opcode;
  for (size_t i = 0; i < 16; ++i) std::memcpy(x.xmm[i].data(), f.xmm[i], 16);
  x.mxcsr = f.mxcsr;
  return x;
}

Result<void> KvmTarget::write_registers(int thread, const X86Regs& x) {
  VcpuFd& fd = vcpus_[static_cast<size_t>(thread)]->fd();
  kvm_regs r = VMRUN_TRY(fd.get_regs());
  r.rax = x.rax, r.rbx = x.rbx, r.rcx = x.rcx, r.rdx = x.rdx;
  r.rsi = x.rsi, r.rdi = x.rdi, r.rbp = x.rbp, r.rsp = x.rsp;
  r.r8 = x.r8, r.r9 = x.r9, r.r10 = x.r10, r.r11 = x.r11;
  r.r12 = x.r12, r.r13 = x.r13, r.r14 = x.r14, r.r15 = x.r15;
  r.rip = x.rip;
  r.rflags = (r.rflags & ~0xffffffffull) | x.eflags;
  VMRUN_TRY(fd.set_regs(r));
  // Selectors stay: a selector without its descriptor would be a lie; the
  // bases are what code uses.
  kvm_sregs s = VMRUN_TRY(fd.get_sregs());
  s.fs.base = x.fs_base;
  s.gs.base = x.gs_base;
  VMRUN_TRY(fd.set_sregs(s));
  kvm_fpu f = VMRUN_TRY(fd.get_fpu());
  for (size_t i = 0; i < 8; ++i) std::memcpy(f.fpr[i], x.st[i].data(), 10);
  f.fcw = static_cast<uint16_t>(x.fctrl), f.fsw = static_cast<uint16_t>(x.fstat);
  f.ftwx = abridged_tag(x.ftag);
  f.last_opcode = static_cast<uint16_t>(x.fop);
  for (size_t i = 0; i < 16; ++i) std::memcpy(f.xmm[i], x.xmm[i].data(), 16);
  f.mxcsr = x.mxcsr;
  return fd.set_fpu(f);
}

std::optional<uint64_t> KvmTarget::translate(int thread, uint64_t gva) {
  auto t = vcpus_[static_cast<size_t>(thread)]->fd().translate(gva);
  if (!t.ok() || !t->valid) return std::nullopt;
  return t->physical_address;
}

size_t KvmTarget::walk(int thread, uint64_t addr, size_t len,
                       const std::function<void(uint64_t, size_t, size_t)>& fn) {
  size_t done = 0;
  while (done < len) {
    const uint64_t va = addr + done;
    if (va < addr) break;  // wrapped past the top of the address space
    const size_t n = std::min<uint64_t>(len - done, kPage - va % kPage);
    auto gpa = translate(thread, va);
    if (!gpa || !mem_.slice(*gpa, n).ok()) break;
    fn(*gpa, done, n);
    done += n;
  }
  return done;
}

Result<size_t> KvmTarget::read_memory(int thread, uint64_t addr, std::span<uint8_t> out) {
  std::lock_guard lock(mu_);
  const size_t got = walk(thread, addr, out.size(), [&](uint64_t gpa, size_t at, size_t n) {
    std::memcpy(out.data() + at, mem_.slice(gpa, n).value().data(), n);
  });
  // The guest's own bytes where an int3 of ours sits.
  for (auto it = sw_.lower_bound(addr); it != sw_.end() && it->first - addr < got; ++it) {
    out[it->first - addr] = it->second.saved;
  }
  return got;
}

Result<size_t> KvmTarget::write_memory(int thread, uint64_t addr,
                                       std::span<const uint8_t> data) {
  std::lock_guard lock(mu_);
  const size_t put = walk(thread, addr, data.size(), [&](uint64_t gpa, size_t at, size_t n) {
    std::memcpy(mem_.slice(gpa, n).value().data(), data.data() + at, n);
  });
  // A write over one of our int3s changes what it will restore; the int3 stays.
  for (auto it = sw_.lower_bound(addr); it != sw_.end() && it->first - addr < put; ++it) {
    it->second.saved = data[it->first - addr];
    if (uint8_t* b = byte_at(mem_, it->second.gpa)) *b = kInt3;
  }
  return put;
}

bool KvmTarget::supports_breakpoint(BreakpointKind kind) {
  // x86 debug registers cannot watch reads alone.
  return kind != BreakpointKind::kReadWatch;
}

Result<void> KvmTarget::insert_breakpoint(BreakpointKind kind, uint64_t addr, uint64_t len) {
  std::lock_guard lock(mu_);
  if (kind == BreakpointKind::kSoftware) {
    if (len != 1) return Error("a software breakpoint is one byte on x86");
    if (sw_.count(addr)) return Error("a breakpoint is already there");
    auto gpa = translate(0, addr);
    uint8_t* byte = gpa ? byte_at(mem_, *gpa) : nullptr;
    if (byte == nullptr) {
      return Error("no guest memory at " + std::to_string(addr) + " for a breakpoint");
    }
    sw_[addr] = SwBreakpoint{*gpa, *byte};
    *byte = kInt3;
    return ok();
  }
  if (kind != BreakpointKind::kHardware &&
      (!(len == 1 || len == 2 || len == 4 || len == 8) || addr % len != 0)) {
    return Error("a watchpoint must be 1, 2, 4 or 8 aligned bytes");
  }
  for (auto& slot : hw_) {
    if (slot) continue;
    slot = HwSlot{kind, addr, len};
    return ok();
  }
  return Error("all four debug registers are in use");
}

void KvmTarget::restore(const SwBreakpoint& bp) {
  // Only our int3: the page may hold other code by now (a module reloaded
  // at the same address), which must not get the old byte.
  uint8_t* b = byte_at(mem_, bp.gpa);
  if (b != nullptr && *b == kInt3) *b = bp.saved;
}

Result<void> KvmTarget::remove_breakpoint(BreakpointKind kind, uint64_t addr, uint64_t len) {
  std::lock_guard lock(mu_);
  if (kind == BreakpointKind::kSoftware) {
    auto it = sw_.find(addr);
    if (it == sw_.end()) return Error("no breakpoint there");
    restore(it->second);
    sw_.erase(it);
    return ok();
  }
  for (auto& slot : hw_) {
    if (slot && slot->kind == kind && slot->addr == addr && slot->len == len) {
      slot.reset();
      return ok();
    }
  }
  return Error("no such hardware breakpoint");
}

Result<void> KvmTarget::remove_all_breakpoints() {
  for (const auto& [addr, bp] : sw_) restore(bp);
  sw_.clear();
  return ok();
}

}  // namespace vmrun::gdb
