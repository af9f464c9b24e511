// One vCPU's thread: KVM_RUN in a loop, each exit dispatched, until the
// StopSignal fires. kick() makes a vCPU inside KVM_RUN come out promptly.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <pthread.h>
#include <thread>

#include "devices/bus.h"
#include "vmm/kvm.h"
#include "vmm/stop_signal.h"

namespace vmrun {

class VcpuThread {
 public:
  VcpuThread(int index, std::unique_ptr<VcpuFd> vcpu)
      : index_(index), vcpu_(std::move(vcpu)) {}
  ~VcpuThread() { join(); }

  VcpuFd& fd() { return *vcpu_; }
  void start(const devices::Bus& pio, const devices::Bus& mmio,
             StopSignal& stop);
  // Safe to call from any thread once the StopSignal has fired.
  void kick();
  void join();
  // Exits to userspace so far and the last one's KVM reason (a dump's view
  // of whether the vCPU is still doing I/O).
  uint64_t exits() const { return exits_.load(std::memory_order_relaxed); }
  uint32_t last_exit() const { return last_exit_.load(std::memory_order_relaxed); }

  // Debugger control (the gdb stub). A paused vCPU is parked outside
  // KVM_RUN, so other threads may use its fd (registers, translation).
  // request_pause() returns at once; wait_paused() blocks until parked or
  // the thread has ended; resume() lets it run again.
  using DebugHook = std::function<void(int vcpu, const kvm_debug_exit_arch&)>;
  void set_debug_hook(DebugHook hook) { debug_hook_ = std::move(hook); }
  void request_pause();
  void wait_paused();
  void resume();

  // Installs the no-op SIGUSR1 handler kick() relies on; once per process.
  static void install_kick_handler();

 private:
  void loop(const devices::Bus& pio, const devices::Bus& mmio,
            StopSignal& stop);

  void park_if_asked(StopSignal& stop);
  bool pause_requested();

  int index_;
  std::unique_ptr<VcpuFd> vcpu_;
  std::thread thread_;
  std::optional<pthread_t> handle_;  // thread_'s, published under mu_
  std::atomic<uint64_t> exits_{0};
  std::atomic<uint32_t> last_exit_{0};
  DebugHook debug_hook_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool pause_requested_ = false;
  bool parked_ = false;
  bool finished_ = false;
};

}  // namespace vmrun
