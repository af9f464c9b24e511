// A gdb::Target without a VM, for the stub's tests and fuzzer: a few vCPUs
// with registers, 64 KiB of "virtual" memory at 0 shared by all (the rest
// unmapped), and a pretend CPU that, on continue, runs thread 0 to the
// lowest software or hardware breakpoint at or after its rip, or else runs
// until interrupted; a step moves rip by one byte. Tests can script the next
// stop instead. It records what the session asked for.
#pragma once

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <tuple>
#include <vector>

#include "vmm/gdb/target.h"
#include "vmm/unique_fd.h"

namespace vmrun::test_support {

class FakeGdbTarget : public gdb::Target {
 public:
  using Kind = gdb::BreakpointKind;
  static constexpr uint64_t kMemSize = 0x10000;

  explicit FakeGdbTarget(int vcpus = 2)
      : regs(static_cast<size_t>(vcpus)),
        mem(pattern()),
        event_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    for (int i = 0; i < vcpus; ++i) {
      regs[i].rip = 0x1000 + 0x100 * static_cast<uint64_t>(i);
      regs[i].rsp = 0x8000;
      regs[i].cs = 0x10;
      regs[i].eflags = 0x2;
    }
  }

  std::vector<int> threads() override {
    std::vector<int> t(regs.size());
    for (size_t i = 0; i < t.size(); ++i) t[i] = static_cast<int>(i);
    return t;
  }
  Result<gdb::X86Regs> read_registers(int thread) override {
    if (!valid(thread)) return Error("no such vcpu");
    return regs[thread];
  }
  Result<void> write_registers(int thread, const gdb::X86Regs& r) override {
    if (!valid(thread)) return Error("no such vcpu");
    regs[thread] = r;
    return ok();
  }
  Result<size_t> read_memory(int, uint64_t addr,
                             std::span<uint8_t> out) override {
    size_t n = mapped(addr, out.size());
    if (n) std::memcpy(out.data(), mem.data() + addr, n);
    return n;
  }
  Result<size_t> write_memory(int, uint64_t addr,
                              std::span<const uint8_t> data) override {
    if (fail_writes) return Error("write refused");
    size_t n = mapped(addr, data.size());
    if (n) std::memcpy(mem.data() + addr, data.data(), n);
    return n;
  }
  bool supports_breakpoint(Kind kind) override {
    return kind != Kind::kReadWatch;  // as if the hardware could not
  }
  Result<void> insert_breakpoint(Kind kind, uint64_t addr,
                                 uint64_t len) override {
    ++inserts;
    if (kind != Kind::kSoftware && kind != Kind::kHardware &&
        (len == 0 || len > 8))
      return Error("bad watch length");
    if (!breakpoints.insert({kind, addr, len}).second) ++double_inserts;
    return ok();
  }
  Result<void> remove_breakpoint(Kind kind, uint64_t addr,
                                 uint64_t len) override {
    if (!breakpoints.erase({kind, addr, len})) return Error("not inserted");
    return ok();
  }

  void resume(std::optional<int> step) override {
    ++resumes;
    last_step = step;
    running = true;
    if (next_stop) {
      post(*std::exchange(next_stop, std::nullopt));
    } else if (step) {
      if (valid(*step)) regs[*step].rip += 1;
      post({*step, gdb::StopEvent::Reason::kSingleStep});
    } else if (auto bp = next_breakpoint()) {
      regs[0].rip = bp->second;
      post({0, bp->first == Kind::kSoftware
                   ? gdb::StopEvent::Reason::kSwBreakpoint
                   : gdb::StopEvent::Reason::kHwBreakpoint});
    }
  }
  void interrupt() override {
    ++interrupts;
    if (running && !pending)
      post({interrupt_thread, gdb::StopEvent::Reason::kInterrupted});
  }
  int stop_fd() override { return event_.get(); }
  std::optional<gdb::StopEvent> take_stop() override {
    uint64_t v;
    [[maybe_unused]] ssize_t n = ::read(event_.get(), &v, sizeof v);
    running = false;
    return std::exchange(pending, std::nullopt);
  }
  void detach() override {
    ++detaches;
    breakpoints.clear();
    pending.reset();
    running = true;
  }
  void kill() override { ++kills; }

  // Makes the next resume() stop this way (e.g. a watchpoint or an exit).
  std::optional<gdb::StopEvent> next_stop;
  std::vector<gdb::X86Regs> regs;
  std::vector<uint8_t> mem;
  std::set<std::tuple<Kind, uint64_t, uint64_t>> breakpoints;
  bool fail_writes = false;
  bool running = true;  // a guest runs freely until the session stops it
  int interrupt_thread = 0;
  std::optional<gdb::StopEvent> pending;
  std::optional<int> last_step;
  int resumes = 0, interrupts = 0, detaches = 0, kills = 0, inserts = 0,
      double_inserts = 0;

 private:
  // Memory starts as (address * 7) & 0xff, made once: the fuzzer builds a
  // target per input and a byte loop would dominate its time.
  static const std::vector<uint8_t>& pattern() {
    static const std::vector<uint8_t> p = [] {
      std::vector<uint8_t> v(kMemSize);
      for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<uint8_t>(i * 7);
      return v;
    }();
    return p;
  }
  bool valid(int t) const {
    return t >= 0 && static_cast<size_t>(t) < regs.size();
  }
  size_t mapped(uint64_t addr, size_t len) const {
    if (addr >= mem.size()) return 0;
    return std::min<uint64_t>(len, mem.size() - addr);
  }
  std::optional<std::pair<Kind, uint64_t>> next_breakpoint() const {
    std::optional<std::pair<Kind, uint64_t>> best;
    for (const auto& [kind, addr, len] : breakpoints) {
      if ((kind == Kind::kSoftware || kind == Kind::kHardware) &&
          addr >= regs[0].rip && (!best || addr < best->second))
        best = {kind, addr};
    }
    return best;
  }
  void post(gdb::StopEvent e) {
    pending = e;
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(event_.get(), &one, sizeof one);
  }

  UniqueFd event_;
};

}  // namespace vmrun::test_support
