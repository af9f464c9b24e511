// Why a VM stopped, and what vmrun's exit status and stderr line say about it.
// The exit status contract (README): the job's status, 128+S for a signal,
// and three reserved codes for outcomes that are not the job's.
#pragma once

#include <string>

#include "devices/exit_port.h"

namespace vmrun {

constexpr int kExitGuestFailed = 123;  // panic, reset, triple fault, no status
constexpr int kExitTimeout = 124;      // --timeout expired (as timeout(1))
constexpr int kExitVmrunError = 125;   // usage, set-up or host error

enum class StopReason {
  kJobStatus,    // init reported the job's end
  kGuestReset,   // the guest reset the machine (i8042) without a status
  kTripleFault,  // KVM_EXIT_SHUTDOWN
  kGuestError,   // KVM could not run the guest (internal error, bad entry)
  kTimeout,
  kHostError,
  kInterrupted,  // vmrun got SIGTERM, SIGINT or SIGHUP; job.value is the signal
};

struct VmStop {
  StopReason reason;
  devices::JobStatus job{};
  std::string detail;  // a KVM error, a panic message, ...
};

int exit_code(const VmStop& stop);

// One line for stderr, or empty when the job's own status says it all.
std::string describe(const VmStop& stop);

// A short name for result files: job, signal, init_failure, panic, reset,
// triple_fault, kvm_error, timeout, error, interrupted.
std::string reason_name(const VmStop& stop);

}  // namespace vmrun
