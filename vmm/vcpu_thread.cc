#include "vmm/vcpu_thread.h"

#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>

#include "vmm/exit_dispatch.h"

namespace vmrun {
namespace {
constexpr int kKickSignal = SIGUSR1;
void ignore_signal(int) {}
}  // namespace

void VcpuThread::install_kick_handler() {
  struct sigaction sa {};
  sa.sa_handler = ignore_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: KVM_RUN must return EINTR
  sigaction(kKickSignal, &sa, nullptr);
}

void VcpuThread::start(const devices::Bus& pio, const devices::Bus& mmio,
                       StopSignal& stop) {
  thread_ = std::thread([this, &pio, &mmio, &stop] { loop(pio, mmio, stop); });
}

void VcpuThread::kick() {
  // immediate_exit closes the race where the signal lands just before the
  // thread enters KVM_RUN: KVM then returns at once with EINTR.
  __atomic_store_n(&vcpu_->run_area()->immediate_exit, 1, __ATOMIC_SEQ_CST);
  if (thread_.joinable()) pthread_kill(thread_.native_handle(), kKickSignal);
}

void VcpuThread::join() {
  if (thread_.joinable()) thread_.join();
}

void VcpuThread::loop(const devices::Bus& pio, const devices::Bus& mmio,
                      StopSignal& stop) {
  ExitContext ctx{pio, mmio, stop, vcpu_->run_size()};
  kvm_run* run = vcpu_->run_area();
  while (!stop.stopped()) {
    if (vcpu_->run() < 0) {
      // EINTR: a kick or a stray signal; EAGAIN: an AP still waiting for
      // INIT/SIPI. Both mean "look at the stop flag and go again".
      if (errno == EINTR || errno == EAGAIN) continue;
      stop.request({StopReason::kHostError, {},
                    "KVM_RUN on vCPU " + std::to_string(index_) + ": " +
                        std::strerror(errno)});
      break;
    }
    if (handle_exit(*run, ctx) == ExitAction::kStop) break;
  }
  spdlog::debug("[vcpu{}] stopped", index_);
}

}  // namespace vmrun
