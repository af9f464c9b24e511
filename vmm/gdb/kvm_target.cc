#include "vmm/gdb/kvm_target.h"

#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

namespace vmrun::gdb {
namespace {

constexpr uint32_t kBpVector = 3;
constexpr uint32_t kDbVector = 1;
constexpr uint64_t kDr6SingleStep = 1ull << 14;
#ifndef KVM_GUESTDBG_BLOCKIRQ
#define KVM_GUESTDBG_BLOCKIRQ 0x00200000
#endif

// DR7's R/W and LEN fields for one slot (Intel SDM 17.2.4).
uint64_t dr7_bits(int slot, BreakpointKind kind, uint64_t len) {
  uint64_t rw = kind == BreakpointKind::kHardware ? 0 : kind == BreakpointKind::kWriteWatch ? 1 : 3;
  uint64_t ln = len == 1 ? 0 : len == 2 ? 1 : len == 8 ? 2 : 3;
  if (kind == BreakpointKind::kHardware) ln = 0;
  return (1ull << (2 * slot)) | (rw << (16 + 4 * slot)) | (ln << (18 + 4 * slot));
}

}  // namespace

KvmTarget::KvmTarget(std::vector<VcpuThread*> vcpus, const GuestMemory& mem,
                     std::function<void()> kill_vm, bool start_stopped,
                     uint32_t guest_debug_flags)
    : vcpus_(std::move(vcpus)),
      mem_(mem),
      kill_vm_(std::move(kill_vm)),
      block_irq_(guest_debug_flags & KVM_GUESTDBG_BLOCKIRQ),
      stop_event_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  for (size_t i = 0; i < vcpus_.size(); ++i) {
    vcpus_[i]->set_debug_hook([this](int vcpu, const kvm_debug_exit_arch& arch) {
      on_debug_exit(vcpu, arch);
    });
  }
  if (start_stopped) request_pause_locked();
}

void KvmTarget::request_pause_locked() {
  if (running_) held_since_ = std::chrono::steady_clock::now();
  running_ = false;
  for (auto* v : vcpus_) v->request_pause();
}

void KvmTarget::run_locked() {
  if (!running_) held_ += std::chrono::steady_clock::now() - held_since_;
  running_ = true;
}

std::chrono::steady_clock::duration KvmTarget::held_time() {
  std::lock_guard lock(mu_);
  if (running_) return held_;
  return held_ + (std::chrono::steady_clock::now() - held_since_);
}

void KvmTarget::wait_all_parked() {
  for (auto* v : vcpus_) v->wait_paused();
}

void KvmTarget::post_locked(StopEvent event) {
  if (pending_) return;  // one event per resume; a dropped hit re-triggers
  pending_ = event;
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(stop_event_.get(), &one, sizeof one);
}

// The exception goes to the guest as if no debugger were there (its own
// int3s and debug traps: the kernel patches code with int3).
static void reinject(VcpuFd& fd, uint8_t vector) {
  auto ev = fd.get_vcpu_events();
  if (!ev.ok()) return;
  ev->exception.injected = 1;
  ev->exception.nr = vector;
  ev->exception.has_error_code = 0;
  if (auto r = fd.set_vcpu_events(*ev); !r) {
    spdlog::warn("[gdb] re-injecting the guest's exception {}: {}", vector, r.error().message());
  }
}

void KvmTarget::on_debug_exit(int vcpu, const kvm_debug_exit_arch& arch) {
  std::lock_guard lock(mu_);
  VcpuFd& fd = vcpus_[static_cast<size_t>(vcpu)]->fd();
  StopEvent e;
  e.thread = vcpu;
  if (arch.exception == kBpVector) {
    // Intel reports the int3's own address, AMD the next instruction's.
    uint64_t at = arch.pc;
    if (!sw_.count(at) && sw_.count(at - 1)) at = at - 1;
    if (!sw_.count(at)) {
      reinject(fd, kBpVector);
      return;
    }
    if (at != arch.pc) {
      // gdb wants rip at the breakpoint (the contract of target.h).
      if (auto regs = fd.get_regs(); regs.ok()) {
        regs->rip -= arch.pc - at;
        (void)fd.set_regs(*regs);
      }
    }
    e.reason = StopEvent::Reason::kSwBreakpoint;
  } else if (arch.exception == kDbVector) {
    uint64_t enabled = 0;
    for (size_t i = 0; i < hw_.size(); ++i) {
      if (hw_[i]) enabled |= 1ull << i;
    }
    const uint64_t hits = arch.dr6 & enabled;
    if (hits) {
      const auto& hw = hw_[static_cast<size_t>(__builtin_ctzll(hits))];
      if (hw->kind != BreakpointKind::kHardware) {
        e.reason = StopEvent::Reason::kWatchpoint;
        e.watch_kind = hw->kind;
        e.watch_addr = hw->addr;
      } else {
        e.reason = StopEvent::Reason::kHwBreakpoint;
      }
    } else if ((arch.dr6 & kDr6SingleStep) && step_vcpu_ == vcpu) {
      e.reason = StopEvent::Reason::kSingleStep;
    } else {
      reinject(fd, kDbVector);  // the guest's own single step or breakpoint
      return;
    }
  } else {
    e.reason = StopEvent::Reason::kInterrupted;
  }
  // Stopping already: this vCPU parks too, and a hit it dropped re-triggers
  // when it runs that instruction again.
  if (!running_) return;
  post_locked(e);
  request_pause_locked();
}

void KvmTarget::on_vm_end(int exit_status) {
  std::lock_guard lock(mu_);
  ended_ = true;
  exit_status_ = exit_status;
  StopEvent e;
  e.reason = StopEvent::Reason::kExited;
  e.exit_status = exit_status;
  pending_.reset();  // the end outranks whatever was pending
  post_locked(e);
}

std::vector<int> KvmTarget::threads() {
  std::vector<int> ids;
  for (size_t i = 0; i < vcpus_.size(); ++i) ids.push_back(static_cast<int>(i));
  return ids;
}

void KvmTarget::wait_end_seen(int ms) {
  std::unique_lock lock(mu_);
  // Only a gdb waiting for the guest is told of its end.
  end_cv_.wait_for(lock, std::chrono::milliseconds(ms),
                   [this] { return end_seen_ || !session_ || !awaiting_; });
}

void KvmTarget::interrupt() {
  std::lock_guard lock(mu_);
  session_ = true;
  awaiting_ = true;
  if (ended_) {
    StopEvent e;
    e.reason = StopEvent::Reason::kExited;
    e.exit_status = exit_status_;
    post_locked(e);
    return;
  }
  StopEvent e;
  e.reason = StopEvent::Reason::kInterrupted;
  post_locked(e);
  request_pause_locked();
}

std::optional<StopEvent> KvmTarget::take_stop() {
  std::optional<StopEvent> e;
  {
    std::lock_guard lock(mu_);
    e = std::exchange(pending_, std::nullopt);
    if (e) awaiting_ = false;
    if (e && e->reason == StopEvent::Reason::kExited) {
      end_seen_ = true;
      end_cv_.notify_all();
    }
    uint64_t drain;
    [[maybe_unused]] ssize_t n = ::read(stop_event_.get(), &drain, sizeof drain);
  }
  // "When an event is taken every vCPU is stopped": the kicks are out; the
  // parking takes at most one exit's handling.
  if (e && e->reason != StopEvent::Reason::kExited) wait_all_parked();
  return e;
}

Result<void> KvmTarget::apply_guest_debug(std::optional<int> step_thread) {
  kvm_guest_debug dbg{};
  dbg.control = KVM_GUESTDBG_ENABLE;
  if (!sw_.empty()) dbg.control |= KVM_GUESTDBG_USE_SW_BP;
  uint64_t dr7 = 0;
  for (size_t i = 0; i < hw_.size(); ++i) {
    if (!hw_[i]) continue;
    dbg.arch.debugreg[i] = hw_[i]->addr;
    dr7 |= dr7_bits(static_cast<int>(i), hw_[i]->kind, hw_[i]->len);
  }
  if (dr7) {
    dbg.control |= KVM_GUESTDBG_USE_HW_BP;
    dbg.arch.debugreg[7] = dr7;
  }
  const bool any = dbg.control != KVM_GUESTDBG_ENABLE || step_thread;
  for (size_t i = 0; i < vcpus_.size(); ++i) {
    kvm_guest_debug one = dbg;
    if (!any) one.control = 0;  // nothing to catch: plain running
    if (step_thread && *step_thread == static_cast<int>(i)) {
      // BLOCKIRQ: a stepi executes the next instruction, not the timer's
      // interrupt handler. Older KVMs do not know it (and would ignore it).
      one.control |= KVM_GUESTDBG_SINGLESTEP;
      if (block_irq_) one.control |= KVM_GUESTDBG_BLOCKIRQ;
    }
    VMRUN_TRY(vcpus_[i]->fd().set_guest_debug(one));
  }
  return ok();
}

void KvmTarget::resume(std::optional<int> step_thread) {
  std::lock_guard lock(mu_);
  if (ended_) return;
  if (auto r = apply_guest_debug(step_thread); !r) {
    spdlog::warn("[gdb] {}", r.error().message());
  }
  run_locked();
  awaiting_ = true;
  step_vcpu_ = step_thread.value_or(-1);
  if (step_thread) {
    vcpus_[static_cast<size_t>(*step_thread)]->resume();
    return;
  }
  for (auto* v : vcpus_) v->resume();
}

void KvmTarget::detach() {
  bool ended;
  {
    std::lock_guard lock(mu_);
    ended = ended_;
    if (!ended && running_) request_pause_locked();
  }
  if (!ended) wait_all_parked();
  std::lock_guard lock(mu_);
  if (!ended) {
    if (auto r = remove_all_breakpoints(); !r) spdlog::warn("[gdb] {}", r.error().message());
    hw_ = {};
    kvm_guest_debug off{};
    for (auto* v : vcpus_) (void)v->fd().set_guest_debug(off);
  }
  pending_.reset();
  uint64_t drain;
  [[maybe_unused]] ssize_t n = ::read(stop_event_.get(), &drain, sizeof drain);
  run_locked();
  session_ = false;
  awaiting_ = false;
  step_vcpu_ = -1;
  end_cv_.notify_all();
  for (auto* v : vcpus_) v->resume();
}

void KvmTarget::kill() {
  kill_vm_();
  std::lock_guard lock(mu_);
  session_ = false;
  end_cv_.notify_all();
  run_locked();
  for (auto* v : vcpus_) v->resume();  // they see the stop and end
}

}  // namespace vmrun::gdb
