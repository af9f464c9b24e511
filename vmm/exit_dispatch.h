// Turns one KVM_RUN exit into bus accesses or a stop request. Separate from
// the vCPU thread so tests can hand it a filled-in kvm_run.
#pragma once

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
};

enum class ExitAction { kContinue, kStop };

ExitAction handle_exit(kvm_run& run, ExitContext& ctx);

}  // namespace vmrun
