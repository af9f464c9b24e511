#include "vmm/vm_stop.h"

namespace vmrun {

int exit_code(const VmStop& stop) {
  switch (stop.reason) {
    case StopReason::kJobStatus:
      if (stop.job.kind == devices::JobEnd::kSignaled) {
        return 128 + stop.job.value;
      }
      return stop.job.value;
    case StopReason::kGuestReset:
    case StopReason::kTripleFault:
    case StopReason::kGuestError:
      return kExitGuestFailed;
    case StopReason::kTimeout:
      return kExitTimeout;
    case StopReason::kHostError:
      return kExitVmrunError;
    case StopReason::kInterrupted:
      return 128 + stop.job.value;  // as a shell reports a signalled command
  }
  return kExitVmrunError;
}

std::string reason_name(const VmStop& stop) {
  switch (stop.reason) {
    case StopReason::kJobStatus:
      if (stop.job.kind == devices::JobEnd::kInitFailed) return "init_failure";
      return stop.job.kind == devices::JobEnd::kSignaled ? "signal" : "job";
    case StopReason::kGuestReset:
      return stop.detail.empty() ? "reset" : "panic";
    case StopReason::kTripleFault:
      return stop.detail.empty() ? "triple_fault" : "panic";
    case StopReason::kGuestError:
      return "kvm_error";
    case StopReason::kTimeout:
      return "timeout";
    case StopReason::kHostError:
      return "error";
    case StopReason::kInterrupted:
      return "interrupted";
  }
  return "error";
}

std::string describe(const VmStop& stop) {
  const std::string detail = stop.detail.empty() ? "" : ": " + stop.detail;
  switch (stop.reason) {
    case StopReason::kJobStatus:
      if (stop.job.kind == devices::JobEnd::kInitFailed) {
        return "guest init could not start the job (status " +
               std::to_string(stop.job.value) + ")";
      }
      return {};
    case StopReason::kGuestReset:
      return stop.detail.empty()
                 ? "guest reset without reporting a job status"
                 : "guest kernel panic" + detail;
    case StopReason::kTripleFault:
      return stop.detail.empty()
                 ? "guest triple fault (CPU shutdown) without a job status"
                 : "guest kernel panic" + detail;
    case StopReason::kGuestError:
      return "guest stopped by a KVM error" + detail;
    case StopReason::kTimeout:
      return "timed out" + detail + "; guest stopped";
    case StopReason::kHostError:
      return "error" + detail;
    case StopReason::kInterrupted:
      return "stopped by " + stop.detail + "; guest stopped";
  }
  return "stopped";
}

}  // namespace vmrun
