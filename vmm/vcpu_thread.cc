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
  std::lock_guard lock(mu_);  // request_pause() may run on the gdb thread
  thread_ = std::thread([this, &pio, &mmio, &stop] { loop(pio, mmio, stop); });
  handle_ = thread_.native_handle();
}

void VcpuThread::kick() {
  // immediate_exit closes the race where the signal lands just before the
  // thread enters KVM_RUN: KVM then returns at once with EINTR.
  __atomic_store_n(&vcpu_->run_area()->immediate_exit, 1, __ATOMIC_SEQ_CST);
  if (thread_.joinable()) pthread_kill(thread_.native_handle(), kKickSignal);
  // A parked vCPU looks at the stop signal when woken.
  std::lock_guard lock(mu_);
  cv_.notify_all();
}

void VcpuThread::request_pause() {
  std::lock_guard lock(mu_);
  pause_requested_ = true;
  __atomic_store_n(&vcpu_->run_area()->immediate_exit, 1, __ATOMIC_SEQ_CST);
  // Not started yet: it parks before its first KVM_RUN. Itself (a debug
  // exit): it parks on its way back to KVM_RUN.
  if (handle_ && !pthread_equal(*handle_, pthread_self())) pthread_kill(*handle_, kKickSignal);
}

void VcpuThread::wait_paused() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [this] { return parked_ || finished_ || !pause_requested_; });
}

void VcpuThread::resume() {
  std::lock_guard lock(mu_);
  pause_requested_ = false;
  cv_.notify_all();
}

void VcpuThread::park_if_asked(StopSignal& stop) {
  std::unique_lock lock(mu_);
  if (!pause_requested_) return;
  (void)vcpu_->kvmclock_paused();  // a guest without kvmclock: nothing to tell
  parked_ = true;
  cv_.notify_all();
  cv_.wait(lock, [&] { return !pause_requested_ || stop.stopped(); });
  parked_ = false;
  // The pause's kick is spent; a stop's is not cleared (the loop sees the
  // stop first).
  if (!stop.stopped()) __atomic_store_n(&vcpu_->run_area()->immediate_exit, 0, __ATOMIC_SEQ_CST);
}

bool VcpuThread::pause_requested() {
  std::lock_guard lock(mu_);
  return pause_requested_;
}

void VcpuThread::join() {
  if (thread_.joinable()) thread_.join();
}

void VcpuThread::loop(const devices::Bus& pio, const devices::Bus& mmio,
                      StopSignal& stop) {
  ExitContext ctx{pio, mmio, stop, vcpu_->run_size()};
  kvm_run* run = vcpu_->run_area();
  ctx.on_debug = debug_hook_ ? [this](const kvm_debug_exit_arch& arch) {
    debug_hook_(index_, arch);
  } : std::function<void(const kvm_debug_exit_arch&)>();
  while (!stop.stopped()) {
    // An I/O or MMIO exit is only complete (the value in rax, rip past the
    // instruction) once KVM_RUN is entered again. Before parking for gdb,
    // enter it with immediate_exit set (the pause's kick set it): KVM
    // completes the instruction and returns EINTR without running the guest
    // (or, for a string instruction, exits for its next element, handled
    // below as usual), so gdb sees and edits a finished instruction.
    // immediate_exit is set by every kick: a lock-free first look, so an
    // ordinary I/O exit does not take the pause mutex.
    const bool pending = run->exit_reason == KVM_EXIT_IO || run->exit_reason == KVM_EXIT_MMIO;
    if (pending && __atomic_load_n(&run->immediate_exit, __ATOMIC_SEQ_CST) && pause_requested()) {
      if (vcpu_->run() == 0) {
        exits_.fetch_add(1, std::memory_order_relaxed);
        if (handle_exit(*run, ctx) == ExitAction::kStop) break;
        continue;
      }
      run->exit_reason = KVM_EXIT_INTR;  // completed (EINTR)
    }
    park_if_asked(stop);
    if (stop.stopped()) break;
    if (vcpu_->run() < 0) {
      // EINTR: a kick or a stray signal; EAGAIN: an AP still waiting for
      // INIT/SIPI. Both mean "look at the stop flag and go again".
      if (errno == EINTR || errno == EAGAIN) continue;
      stop.request({StopReason::kHostError, {},
                    "KVM_RUN on vCPU " + std::to_string(index_) + ": " +
                        std::strerror(errno)});
      break;
    }
    exits_.fetch_add(1, std::memory_order_relaxed);
    last_exit_.store(run->exit_reason, std::memory_order_relaxed);
    if (handle_exit(*run, ctx) == ExitAction::kStop) break;
  }
  {
    std::lock_guard lock(mu_);
    finished_ = true;
    cv_.notify_all();
  }
  spdlog::debug("[vcpu{}] stopped", index_);
}

}  // namespace vmrun
