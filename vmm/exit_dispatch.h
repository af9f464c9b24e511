// Turns one KVM_RUN exit into bus accesses or a stop request. Separate from
// the vCPU thread so tests can hand it a filled-in kvm_run.
#pragma once

#include <functional>

#include <linux/kvm.h>

#include <cstddef>

#include "devices/bus.h"
#include "vmm/stop_signal.h"

namespace vmrun {

struct ExitContext {
  const devices::Bus& pio;
  const devices::Bus& mmio;
  StopSignal& stop;
  size_t run_size;  // bytes mapped at the kvm_run pointer (I/O data lives there)
  // KVM_EXIT_DEBUG goes here when a debugger is attached; without one such
  // an exit is a guest error.
  std::function<void(const kvm_debug_exit_arch&)> on_debug = {};
};

enum class ExitAction { kContinue, kStop };

ExitAction handle_exit(kvm_run& run, ExitContext& ctx);

}  // namespace vmrun
