// vhost-net: the host kernel moves packets between the guest's virtqueues
// and the tap itself; vmrun only describes guest memory and the rings, and
// hands over the eventfds: the queue's notification eventfd (which KVM
// signals on the guest's doorbell write) as the kick, and an eventfd per
// queue that the kernel signals when it used buffers: the queue's MSI-X
// irqfd itself where there is one (KVM interrupts the guest; the irqfd is
// detached while the vector is masked), else one vmrun relays (INTx).
#pragma once

#include <array>
#include <memory>

#include "devices/virtio/virtqueue.h"
#include "vmm/guest_memory.h"
#include "vmm/result.h"
#include "vmm/unique_fd.h"

namespace vmrun::devices::net {

class VhostNet {
 public:
  // Opens /dev/vhost-net and takes ownership of a vhost device.
  static Result<std::unique_ptr<VhostNet>> open();

  // Feature bits the kernel side implements (ring layout, merged buffers).
  uint64_t features() const { return features_; }

  struct Queue {
    virtio::QueueConfig config;
    int kick_fd;
    int irq_fd = -1;  // signalled for the guest's interrupt; -1: call_fd()
  };
  // Starts moving packets for receive (0) and transmit (1) queues.
  Result<void> start(const GuestMemory& mem, uint64_t features,
                     const std::array<Queue, 2>& queues, int tap_fd);
  // Detaches the tap: the kernel stops touching guest memory.
  void stop();

  // The eventfd the kernel signals when it used buffers of a queue started
  // without an irq_fd: vmrun raises the interrupt.
  int call_fd(size_t queue) const { return calls_[queue].get(); }

 private:
  explicit VhostNet(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
  uint64_t features_ = 0;
  std::array<UniqueFd, 2> calls_;
  bool running_ = false;
};

}  // namespace vmrun::devices::net
