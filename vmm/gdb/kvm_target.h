// The gdb stub's Target over KVM: vCPUs parked outside KVM_RUN while the
// guest is stopped, registers and memory through their fds (KVM_TRANSLATE
// for guest virtual addresses), software breakpoints as int3 bytes in guest
// RAM, hardware breakpoints and watchpoints in the debug registers, and
// single-step, all through KVM_SET_GUEST_DEBUG.
#pragma once

#include <linux/kvm.h>

#include <array>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "vmm/gdb/target.h"
#include "vmm/guest_memory.h"
#include "vmm/unique_fd.h"
#include "vmm/vcpu_thread.h"

namespace vmrun::gdb {

class KvmTarget : public Target {
 public:
  // `kill_vm` ends the run (gdb's kill). With `start_stopped` (--gdb-wait)
  // every vCPU is asked to park before its first instruction: call it
  // before the vCPU threads start.
  // `guest_debug_flags`: KVM_CHECK_EXTENSION(KVM_CAP_SET_GUEST_DEBUG2), the
  // control bits this KVM knows (0: an old KVM, which ignores unknown ones).
  KvmTarget(std::vector<VcpuThread*> vcpus, const GuestMemory& mem,
            std::function<void()> kill_vm, bool start_stopped, uint32_t guest_debug_flags);
  ~KvmTarget() override = default;

  // From a vCPU thread on KVM_EXIT_DEBUG (VcpuThread's debug hook).
  void on_debug_exit(int vcpu, const kvm_debug_exit_arch& arch);
  // The VM is ending: a session waiting for a stop gets kExited.
  void on_vm_end(int exit_status);
  // After on_vm_end: gives a connected gdb up to `ms` to take the end, so it
  // prints the exit status rather than a lost connection.
  void wait_end_seen(int ms);
  // How long gdb has held the guest stopped so far (the --timeout clock
  // does not count it: a debugging session is not a hung job).
  std::chrono::steady_clock::duration held_time();

  std::vector<int> threads() override;
  Result<X86Regs> read_registers(int thread) override;
  Result<void> write_registers(int thread, const X86Regs& regs) override;
  Result<size_t> read_memory(int thread, uint64_t addr, std::span<uint8_t> out) override;
  Result<size_t> write_memory(int thread, uint64_t addr,
                              std::span<const uint8_t> data) override;
  bool supports_breakpoint(BreakpointKind kind) override;
  Result<void> insert_breakpoint(BreakpointKind kind, uint64_t addr, uint64_t len) override;
  Result<void> remove_breakpoint(BreakpointKind kind, uint64_t addr, uint64_t len) override;
  void resume(std::optional<int> step_thread) override;
  void interrupt() override;
  int stop_fd() override { return stop_event_.get(); }
  std::optional<StopEvent> take_stop() override;
  void detach() override;
  void kill() override;

 private:
  // A software breakpoint: where its int3 went and the byte it hides.
  struct SwBreakpoint {
    uint64_t gpa;
    uint8_t saved;
  };
  struct HwSlot {
    BreakpointKind kind;
    uint64_t addr;
    uint64_t len;
  };
  // Every vCPU asked to park (not waited for).
  void request_pause_locked();
  void run_locked();  // running_ again: the held time stops counting
  void wait_all_parked();
  void post_locked(StopEvent event);
  Result<void> apply_guest_debug(std::optional<int> step_thread);
  // The guest-physical address of `gva` as `thread` sees it, or nullopt.
  std::optional<uint64_t> translate(int thread, uint64_t gva);
  // Walks [addr, addr+len) page by page through `thread`'s page tables,
  // calling fn(gpa, offset, n) per mapped piece; returns the bytes covered.
  size_t walk(int thread, uint64_t addr, size_t len,
              const std::function<void(uint64_t, size_t, size_t)>& fn);
  Result<void> remove_all_breakpoints();
  void restore(const SwBreakpoint& bp);

  std::vector<VcpuThread*> vcpus_;
  const GuestMemory& mem_;
  std::function<void()> kill_vm_;
  bool block_irq_;  // KVM_GUESTDBG_BLOCKIRQ is known
  std::mutex mu_;
  UniqueFd stop_event_;
  std::optional<StopEvent> pending_;
  bool running_ = true;  // vCPUs not asked to park
  std::chrono::steady_clock::duration held_{};  // parked, before held_since_
  std::chrono::steady_clock::time_point held_since_;  // when !running_
  bool ended_ = false;   // the VM is gone
  bool session_ = false;  // a gdb is connected (interrupt() .. detach/kill)
  bool end_seen_ = false;
  bool awaiting_ = false;  // the session waits for a stop (resume/interrupt)
  int step_vcpu_ = -1;     // the vCPU single-stepping, if any
  std::condition_variable end_cv_;
  int exit_status_ = 0;
  // By guest virtual address (vCPU 0's tables place kernel addresses,
  // mapped alike on every vCPU).
  std::map<uint64_t, SwBreakpoint> sw_;
  std::array<std::optional<HwSlot>, 4> hw_{};
};

}  // namespace vmrun::gdb
