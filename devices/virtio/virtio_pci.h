// The modern (virtio 1.x) PCI transport for one VirtioDevice: the vendor
// capabilities, the common configuration registers, feature negotiation,
// queue setup, ISR, MSI-X, and a worker thread that waits on the queues'
// notification eventfds (KVM signals them without a VM exit) and calls the
// device there, so device I/O never runs on a vCPU thread.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "devices/irq_line.h"
#include "devices/pci/msix.h"
#include "devices/pci/pci_bus.h"
#include "devices/virtio/virtio_device.h"
#include "vmm/unique_fd.h"

namespace vmrun::devices::virtio {

class VirtioPci : public pci::PciFunction,
                  public std::enable_shared_from_this<VirtioPci> {
 public:
  // BAR 0 (64-bit memory) layout.
  static constexpr uint64_t kCommonOffset = 0x0000;
  static constexpr uint64_t kIsrOffset = 0x1000;
  static constexpr uint64_t kDeviceOffset = 0x2000;
  static constexpr uint64_t kNotifyOffset = 0x3000;
  static constexpr uint32_t kNotifyMultiplier = 4;
  static constexpr uint64_t kMsixTableOffset = 0x4000;
  static constexpr uint64_t kMsixPbaOffset = 0x6000;
  static constexpr uint64_t kBarSize = 0x8000;

  struct Wiring {
    pci::Msix::OnRoute route;  // MSI-X vector -> KVM route
    pci::Msix::OnFire fire;    // MSI-X vector -> irqfd
    IrqLine intx;              // INTx, when the driver does not use MSI-X
    pci::Msix::OnMask mask;    // MSI-X vector masked: its irqfd holds signals
    std::function<int(uint16_t vector)> irqfd;  // the vector's irqfd, or -1
  };

  static Result<std::shared_ptr<VirtioPci>> create(
      std::unique_ptr<VirtioDevice> device, const GuestMemory& mem, Wiring wiring);
  ~VirtioPci() override;

  std::vector<pci::BarSpec> bars() const { return {{kBarSize, true}}; }
  pci::ConfigSpace& config() override { return config_; }
  void config_write(uint16_t offset, size_t len, uint32_t value) override;
  std::shared_ptr<BusDevice> bar_handler(int index) override;

  // Queue notification eventfds, for KVM_IOEVENTFD at notify_address(q).
  size_t num_queues() const { return queues_.size(); }
  int notify_eventfd(size_t q) const { return queues_[q].notify.get(); }
  uint64_t notify_offset(size_t q) const { return kNotifyOffset + q * kNotifyMultiplier; }

  // The transport's state for a dump (vmrun's SIGUSR2): status, ISR, MSI-X,
  // and per enabled queue the ring indexes and suppression fields as they
  // are in guest memory now. Lines, for a stuck driver or device.
  std::string describe();

  void bar_read(uint64_t offset, std::span<uint8_t> data);
  void bar_write(uint64_t offset, std::span<const uint8_t> data);

 private:
  struct Queue {
    QueueConfig config;
    uint16_t msix_vector = 0xffff;  // VIRTIO_MSI_NO_VECTOR
    bool enabled = false;
    UniqueFd notify;
  };

  VirtioPci(std::unique_ptr<VirtioDevice> device, const GuestMemory& mem,
            Wiring wiring);
  uint32_t common_read(uint64_t offset, size_t len);
  void common_write(uint64_t offset, size_t len, uint32_t value);
  void set_status(uint8_t status);
  void activate_locked();
  void reset_locked();
  void interrupt(uint16_t vector, uint8_t isr_bit);
  void start_worker();
  void stop_worker();
  void worker_loop();

  std::unique_ptr<VirtioDevice> device_;
  const GuestMemory& mem_;
  Wiring wiring_;
  pci::ConfigSpace config_;
  pci::Msix msix_;
  uint8_t msix_cap_ = 0;

  std::mutex mu_;
  std::vector<Queue> queues_;
  uint32_t device_feature_select_ = 0;
  uint32_t driver_feature_select_ = 0;
  uint64_t driver_features_ = 0;
  uint16_t config_msix_vector_ = 0xffff;
  uint16_t queue_select_ = 0;
  uint8_t status_ = 0;
  std::atomic<uint8_t> isr_{0};

  UniqueFd stop_event_;
  std::thread worker_;
};

}  // namespace vmrun::devices::virtio
