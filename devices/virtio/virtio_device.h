// What a virtio device model (blk, net, 9p...) implements. The transport
// (virtio-pci) owns the registers, feature negotiation and queue setup; it
// calls the device with negotiated features and ready queues, and forwards
// queue notifications. Devices never see KVM.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "devices/virtio/virtqueue.h"
#include "vmm/guest_memory.h"
#include "vmm/result.h"

namespace vmrun::devices::virtio {

// Feature bits common to every device (virtio 1.x, section 6).
constexpr uint64_t kFRingIndirectDesc = 1ull << 28;
constexpr uint64_t kFRingEventIdx = 1ull << 29;
constexpr uint64_t kFVersion1 = 1ull << 32;

// Raises the interrupt for one queue (an MSI-X vector via irqfd in the VM; a
// counter in tests). Safe to call from any thread.
using Interrupt = std::function<void()>;

struct ActivatedQueue {
  Virtqueue queue;
  Interrupt interrupt;
  int notify_fd = -1;  // signalled on the driver's notification (for vhost)
  // An eventfd that raises the queue's interrupt when written (its MSI-X
  // vector's irqfd, which holds signals while the vector is masked), or -1
  // (INTx, no vector): for vhost, which can then interrupt the guest
  // without a trip through vmrun.
  int irq_fd = -1;
};

// A device's configuration structure as the driver reads it: bytes past
// its end (or an offset that wraps) read as zero, like an absent field.
inline void read_config_bytes(std::span<const uint8_t> config, uint64_t offset,
                              std::span<uint8_t> data) {
  for (size_t i = 0; i < data.size(); ++i) {
    const uint64_t at = offset + i;
    data[i] = at >= offset && at < config.size() ? config[at] : 0;
  }
}

class VirtioDevice {
 public:
  virtual ~VirtioDevice() = default;

  virtual uint16_t device_id() const = 0;  // 2 = block, 1 = net, 9 = 9p
  virtual uint64_t device_features() const = 0;
  virtual size_t num_queues() const = 0;
  virtual uint16_t max_queue_size() const = 0;

  // The device-specific configuration space (offsets from its start).
  virtual void read_config(uint64_t offset, std::span<uint8_t> data) = 0;
  virtual void write_config(uint64_t offset, std::span<const uint8_t> data) = 0;

  // The driver set DRIVER_OK. `queues` holds every queue the driver enabled,
  // in index order (num_queues() of them). Called on a vCPU thread.
  virtual Result<void> activate(const GuestMemory& mem, uint64_t features,
                                std::vector<ActivatedQueue> queues) = 0;

  // The driver notified queue `index`. Called on the device's own worker
  // thread, never on a vCPU thread, so slow I/O does not stall the guest.
  virtual void process_queue(size_t index) = 0;

  // Descriptors the worker watches besides the queues' notifications (a
  // tap's receive side; vhost's "used buffers" eventfds). process_event(i)
  // runs on the worker when event_fds()[i] is readable, and only while
  // event_wanted(i) (a device with nowhere to put incoming data says no,
  // and waits for a queue notification). Asked after activate().
  virtual std::vector<int> event_fds() const { return {}; }
  virtual void process_event(size_t) {}
  virtual bool event_wanted(size_t) const { return true; }
  // True when the kernel (vhost) serves the queues: the worker then leaves
  // the notification eventfds to it.
  virtual bool kernel_handles_queues() const { return false; }

  // The driver reset the device: drop the queues; activate() may follow.
  // Called on a vCPU thread after the worker has stopped calling.
  virtual void reset() = 0;
};

}  // namespace vmrun::devices::virtio
