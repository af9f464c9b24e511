#include "vmm/exit_dispatch.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <span>

#include "vmm/hex.h"

namespace vmrun {
namespace {

ExitAction stop(ExitContext& ctx, StopReason reason, std::string detail) {
  ctx.stop.request({reason, {}, std::move(detail)});
  return ExitAction::kStop;
}

ExitAction handle_io(kvm_run& run, ExitContext& ctx) {
  const auto& io = run.io;
  const uint64_t total = uint64_t{io.size} * io.count;
  if (io.size == 0 || io.size > 4 || io.data_offset > ctx.run_size ||
      total > ctx.run_size - io.data_offset) {
    return stop(ctx, StopReason::kGuestError,
                "malformed I/O exit (port " + hex(io.port) + ")");
  }
  auto* data = reinterpret_cast<uint8_t*>(&run) + io.data_offset;
  // A string instruction (rep ins/outs) arrives as `count` accesses.
  for (uint32_t i = 0; i < io.count; ++i) {
    std::span<uint8_t> chunk(data + uint64_t{i} * io.size, io.size);
    if (io.direction == KVM_EXIT_IO_OUT) {
      ctx.pio.write(io.port, chunk);
    } else if (!ctx.pio.read(io.port, chunk)) {
      // Unclaimed ports read as all-ones, like a floating ISA bus; a 0 from
      // 0xcfc, for one, sends Linux probing every PCI slot.
      std::fill(chunk.begin(), chunk.end(), 0xff);
    }
  }
  return ExitAction::kContinue;
}

ExitAction handle_mmio(kvm_run& run, ExitContext& ctx) {
  auto& mmio = run.mmio;
  if (mmio.len == 0 || mmio.len > sizeof mmio.data) {
    return stop(ctx, StopReason::kGuestError, "malformed MMIO exit");
  }
  std::span<uint8_t> data(mmio.data, mmio.len);
  if (mmio.is_write) {
    ctx.mmio.write(mmio.phys_addr, data);
  } else if (!ctx.mmio.read(mmio.phys_addr, data)) {
    std::fill(data.begin(), data.end(), 0xff);
  }
  return ExitAction::kContinue;
}

}  // namespace

ExitAction handle_exit(kvm_run& run, ExitContext& ctx) {
  switch (run.exit_reason) {
    case KVM_EXIT_IO:
      return handle_io(run, ctx);
    case KVM_EXIT_MMIO:
      return handle_mmio(run, ctx);
    case KVM_EXIT_INTR:
      return ExitAction::kContinue;
    case KVM_EXIT_DEBUG:
      if (!ctx.on_debug) return stop(ctx, StopReason::kGuestError, "unexpected debug exit");
      ctx.on_debug(run.debug.arch);
      return ExitAction::kContinue;
    case KVM_EXIT_HLT:
      return stop(ctx, StopReason::kGuestError, "guest halted");
    case KVM_EXIT_SHUTDOWN:
      return stop(ctx, StopReason::kTripleFault, {});
    case KVM_EXIT_SYSTEM_EVENT:
      return stop(ctx, StopReason::kGuestReset, {});
    case KVM_EXIT_FAIL_ENTRY:
      return stop(ctx, StopReason::kGuestError,
                  "VM entry failed, hardware reason " +
                      hex(run.fail_entry.hardware_entry_failure_reason));
    case KVM_EXIT_INTERNAL_ERROR:
      return stop(ctx, StopReason::kGuestError,
                  "KVM internal error, suberror " +
                      std::to_string(run.internal.suberror));
    default:
      return stop(ctx, StopReason::kGuestError,
                  "unexpected KVM exit reason " +
                      std::to_string(run.exit_reason));
  }
}

}  // namespace vmrun
