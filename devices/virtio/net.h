// virtio-net (virtio 1.x, 5.1) over a packet descriptor: a tap with
// IFF_VNET_HDR in the VM, a SOCK_SEQPACKET socketpair in the unit tests.
// Each packet on the descriptor is a 12-byte virtio-net header and the
// frame, exactly what the guest puts in (tx) and expects (rx), so checksum
// and TSO offloads pass through untouched.
//
// Receive: one packet is read from the descriptor into a staging buffer
// and copied into the guest's receive buffers, across several of them with
// mergeable receive buffers. When the guest has not offered enough, the
// packet waits (nothing is dropped) and the descriptor is not read until
// the guest adds buffers; the tap's own queue holds what arrives meanwhile.
// Both directions run on the device's worker thread.
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "devices/net/vhost_net.h"
#include "devices/virtio/virtio_device.h"
#include "vmm/unique_fd.h"

namespace vmrun::devices::virtio {

class VirtioNet : public VirtioDevice {
 public:
  static constexpr uint16_t kQueueSize = 256;
  static constexpr size_t kHeaderBytes = 12;  // virtio_net_hdr_mrg_rxbuf
  // The largest packet: a 64 KiB GSO frame with its Ethernet header.
  static constexpr size_t kMaxPacket = kHeaderBytes + 65536 + 64;

  // Sets the tap's offloads (TUNSETOFFLOAD bits) to what the guest accepts.
  using SetOffload = std::function<Result<void>(unsigned flags)>;

  // With `vhost`, the kernel moves the packets (devices/net/vhost_net.h)
  // and this class only sets it up and relays its interrupts.
  VirtioNet(UniqueFd packets, std::array<uint8_t, 6> mac, SetOffload set_offload,
            std::string name, std::unique_ptr<net::VhostNet> vhost = nullptr);

  uint16_t device_id() const override { return 1; }
  uint64_t device_features() const override { return features_; }
  size_t num_queues() const override { return 2; }  // receiveq, transmitq
  uint16_t max_queue_size() const override { return kQueueSize; }
  void read_config(uint64_t offset, std::span<uint8_t> data) override;
  void write_config(uint64_t, std::span<const uint8_t>) override {}
  Result<void> activate(const GuestMemory& mem, uint64_t features,
                        std::vector<ActivatedQueue> queues) override;
  void process_queue(size_t index) override;
  std::vector<int> event_fds() const override;
  void process_event(size_t index) override;
  bool event_wanted(size_t index) const override;
  bool kernel_handles_queues() const override { return vhost_ != nullptr; }
  void reset() override;

  // Counters, for tests and the log.
  uint64_t rx_packets() const { return rx_packets_; }
  uint64_t rx_dropped() const { return rx_dropped_; }
  uint64_t tx_packets() const { return tx_packets_; }

 private:
  void receive_locked();
  bool deliver_locked();  // the staged packet; false: not enough buffers
  void transmit_locked();
  void broken_locked(const std::string& what, const Error& e);

  std::unique_ptr<net::VhostNet> vhost_;
  UniqueFd packets_;
  std::array<uint8_t, 6> mac_;
  SetOffload set_offload_;
  std::string name_;
  uint64_t features_;

  mutable std::mutex mu_;
  const GuestMemory* mem_ = nullptr;
  uint64_t driver_features_ = 0;
  std::optional<ActivatedQueue> rx_, tx_;
  bool broken_ = false;
  std::vector<uint8_t> staging_ = std::vector<uint8_t>(kMaxPacket);
  size_t staged_ = 0;  // bytes of a packet waiting for buffers, 0: none
  std::vector<DescriptorChain> held_;  // receive buffers popped, not yet used
  bool waiting_for_buffers_ = false;
  uint64_t rx_packets_ = 0, rx_dropped_ = 0, tx_packets_ = 0;
};

}  // namespace vmrun::devices::virtio
