// One vCPU's thread: KVM_RUN in a loop, each exit dispatched, until the
// StopSignal fires. kick() makes a vCPU inside KVM_RUN come out promptly.
#pragma once

#include <memory>
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

  // Installs the no-op SIGUSR1 handler kick() relies on; once per process.
  static void install_kick_handler();

 private:
  void loop(const devices::Bus& pio, const devices::Bus& mmio,
            StopSignal& stop);

  int index_;
  std::unique_ptr<VcpuFd> vcpu_;
  std::thread thread_;
};

}  // namespace vmrun
