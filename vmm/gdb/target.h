// What the gdb stub needs from the guest, with no KVM in it: the protocol
// layer (Session) drives a Target, and the VMM implements one over its vCPUs.
//
// Model (gdb's "all-stop" mode): the guest is either running or stopped as a
// whole. Every vCPU stops when any one of them reports an event, and they all
// resume together. The session never overlaps calls: every method below is
// called from the one session thread, so the target only has to synchronize
// with its own vCPU threads.
//
// A session goes:
//   interrupt()                        the guest was running freely; stop it
//   wait for stop_fd(), take_stop()    the first stop
//   { register, memory, breakpoint calls }     only while stopped
//   resume(...)  wait for stop_fd(), take_stop()    as often as gdb likes
//   interrupt()                        while running, when the user hits ^C
//   detach() or kill()                 exactly once, at the end
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "vmm/result.h"

namespace vmrun::gdb {

// One vCPU's registers as gdb's i386:x86-64 description has them (see
// registers.h for the wire order). Values are the architectural ones.
struct X86Regs {
  uint64_t rax = 0, rbx = 0, rcx = 0, rdx = 0, rsi = 0, rdi = 0, rbp = 0,
           rsp = 0;
  uint64_t r8 = 0, r9 = 0, r10 = 0, r11 = 0, r12 = 0, r13 = 0, r14 = 0, r15 = 0;
  uint64_t rip = 0;
  uint32_t eflags = 0;
  // Selectors only; the hidden bases are fs_base/gs_base below.
  uint32_t cs = 0, ss = 0, ds = 0, es = 0, fs = 0, gs = 0;
  // x87 registers in stack order (st0 = top of stack), as FXSAVE and
  // kvm_fpu.fpr hold them: 80-bit little-endian.
  std::array<std::array<uint8_t, 10>, 8> st{};
  // fctrl/fstat as in FXSAVE. ftag is the FULL 16-bit tag word (2 bits per
  // register, 11 = empty), as FSAVE has it, not FXSAVE's abridged byte
  // (kvm_fpu.ftwx): gdb decodes it that way. fiseg/fioff = FPU instruction
  // pointer selector/offset, foseg/fooff = operand pointer, fop = opcode.
  uint32_t fctrl = 0, fstat = 0, ftag = 0, fiseg = 0, fioff = 0, foseg = 0,
           fooff = 0, fop = 0;
  std::array<std::array<uint8_t, 16>, 16> xmm{};
  uint32_t mxcsr = 0;
  uint64_t fs_base = 0, gs_base = 0;
};

enum class BreakpointKind {
  kSoftware,     // Z0: int3 at addr (len = 1 on x86)
  kHardware,     // Z1: debug-register execute breakpoint
  kWriteWatch,   // Z2
  kReadWatch,    // Z3
  kAccessWatch,  // Z4: read or write
};

struct StopEvent {
  enum class Reason {
    kSwBreakpoint,  // an inserted software breakpoint at the thread's rip
    kHwBreakpoint,  // an inserted hardware breakpoint at the thread's rip
    kWatchpoint,    // watch_kind/watch_addr say which access
    kSingleStep,    // resume(step_thread) completed one instruction
    kInterrupted,   // interrupt(), or anything else that stopped the guest
    kExited,        // the guest is gone (job ended, reset, panic): exit_status
  };
  int thread = 0;  // vCPU index that stopped (any valid one for kInterrupted)
  Reason reason = Reason::kInterrupted;
  BreakpointKind watch_kind = BreakpointKind::kWriteWatch;
  uint64_t watch_addr = 0;  // the data address that triggered a watchpoint
  int exit_status = 0;      // reported to gdb as W with status & 0xff
};

class Target {
 public:
  virtual ~Target() = default;

  // vCPU indexes, 0..n-1 (gdb sees thread ids 1..n). Never empty; called
  // for most packets, so keep it cheap.
  virtual std::vector<int> threads() = 0;

  // Only while stopped. `thread` is always one threads() listed.
  virtual Result<X86Regs> read_registers(int thread) = 0;
  virtual Result<void> write_registers(int thread, const X86Regs& regs) = 0;

  // Guest VIRTUAL addresses, translated through that vCPU's current page
  // tables. Returns how many bytes from the start were readable/written
  // (0 = the first byte is unmapped); an Error only for a failure that is
  // not "unmapped". Reads must show the guest's own bytes, not the int3 of
  // an inserted software breakpoint; a write over one must update the byte
  // the breakpoint restores on removal (gdb reads code to disassemble and
  // to step, and patches code). Spans are at most 64 KiB. Only while
  // stopped.
  virtual Result<size_t> read_memory(int thread, uint64_t addr,
                                     std::span<uint8_t> out) = 0;
  virtual Result<size_t> write_memory(int thread, uint64_t addr,
                                      std::span<const uint8_t> data) = 0;

  // False: the session answers gdb "not supported" (an empty reply) and gdb
  // falls back (for kSoftware, to writing int3 itself with memory writes);
  // true but insert fails: gdb gets an error. Insertions apply to all vCPUs.
  // gdb's len: 1 for kSoftware/kHardware on x86, else the watched length
  // (1, 2, 4 or 8, aligned, on x86; reject others with an Error). The
  // session never inserts the same (kind, addr, len) twice without removing
  // it first. A software breakpoint must report kSwBreakpoint with rip AT
  // the int3 (KVM's #BP exit already leaves it there), not after it.
  // Only while stopped.
  virtual bool supports_breakpoint(BreakpointKind kind) = 0;
  virtual Result<void> insert_breakpoint(BreakpointKind kind, uint64_t addr,
                                         uint64_t len) = 0;
  virtual Result<void> remove_breakpoint(BreakpointKind kind, uint64_t addr,
                                         uint64_t len) = 0;

  // Only while stopped. With no step_thread every vCPU runs until the next
  // event. With one, that vCPU executes one instruction and reports
  // kSingleStep while the other vCPUs stay stopped (gdb's "vCont;s:N;c"
  // would let the others run too; keeping them stopped is the simpler,
  // allowed reading). Mask the stepping vCPU's interrupts
  // (KVM_GUESTDBG_BLOCKIRQ), or a stepi lands in the timer interrupt.
  virtual void resume(std::optional<int> step_thread) = 0;

  // Only while running: make every vCPU stop soon and report ONE event
  // (kInterrupted unless something else stopped it first). Must not block
  // on the vCPUs. At session start the guest may have exited already: then
  // report kExited.
  virtual void interrupt() = 0;

  // Readable (level-triggered: poll() POLLIN) exactly while take_stop() has
  // an event for it. Valid for the target's lifetime.
  virtual int stop_fd() = 0;

  // The pending event, cleared (and stop_fd no longer readable), or nullopt.
  // One event per resume()/interrupt(): if several vCPUs hit something at
  // once, report one and drop or keep the rest for a later resume (a
  // dropped software/hardware breakpoint hit re-triggers when that vCPU
  // re-executes the instruction). When an event is taken every vCPU is
  // stopped.
  virtual std::optional<StopEvent> take_stop() = 0;

  // The session is over (detach, client gone, or the owner ended it);
  // called once, while running or stopped, also after kExited. Remove every
  // breakpoint and watchpoint still inserted, end single-stepping, discard
  // pending or in-flight stop events (an interrupt() may not have landed
  // yet), and let the guest run freely as without a debugger. The session
  // makes no more calls.
  virtual void detach() = 0;

  // gdb asked to kill the program: stop the VM as the end of the run (the
  // owner reports it). Called once instead of detach(); no more calls.
  virtual void kill() = 0;
};

}  // namespace vmrun::gdb
