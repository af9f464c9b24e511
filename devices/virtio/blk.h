// virtio-blk (virtio 1.x, 5.2) over a DiskBackend: one request queue, I/O
// done synchronously on the device's worker thread, straight between the
// disk and guest memory.
//
// Every request is checked before any I/O: a readable 16-byte header, the
// status byte as the last writable byte, data in the right direction, a
// whole number of sectors inside the capacity. A bad request completes with
// IOERR (UNSUPP for an unknown type) and a rate-limited debug line; one
// without a status byte completes with nothing written. A malformed ring
// stops the device using the queue until the driver resets it.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "devices/disk.h"
#include "devices/virtio/virtio_device.h"

namespace vmrun::devices::virtio {

class VirtioBlk : public VirtioDevice {
 public:
  static constexpr uint16_t kQueueSize = 256;
  // Header and status take two descriptors of a direct chain.
  static constexpr uint32_t kSegMax = kQueueSize - 2;
  static constexpr uint32_t kSizeMax = 1u << 20;
  static constexpr uint32_t kMaxDiscardSectors = (1u << 22) - 1;  // ~2 GiB
  static constexpr uint32_t kMaxDiscardSegments = 16;
  static constexpr uint32_t kDiscardAlignment = 8;  // sectors: 4 KiB
  static constexpr size_t kIdBytes = 20;

  // `name` prefixes log lines ("blk0"); `serial` answers GET_ID (at most 20
  // bytes are used; empty: "vmrun-<name>").
  VirtioBlk(std::unique_ptr<DiskBackend> disk, std::string name,
            std::string serial = "");

  uint16_t device_id() const override { return 2; }
  uint64_t device_features() const override { return features_; }
  size_t num_queues() const override { return 1; }
  uint16_t max_queue_size() const override { return kQueueSize; }
  void read_config(uint64_t offset, std::span<uint8_t> data) override;
  void write_config(uint64_t offset, std::span<const uint8_t> data) override;
  Result<void> activate(const GuestMemory& mem, uint64_t features,
                        std::vector<ActivatedQueue> queues) override;
  void process_queue(size_t index) override;
  void reset() override;

  const std::string& name() const { return name_; }

 private:
  struct Outcome {
    uint8_t status;
    uint32_t data_written;  // bytes written to the driver before the status
  };
  Outcome handle(const DescriptorChain& chain);
  Outcome read_request(const DescriptorChain& chain, uint64_t sector);
  Outcome write_request(const DescriptorChain& chain, uint64_t sector);
  Outcome get_id(const DescriptorChain& chain);
  Outcome discard_or_zero(const DescriptorChain& chain, bool write_zeroes);
  Outcome bad_request(const std::string& why, uint8_t status);
  Outcome host_error(const Error& error);
  bool in_capacity(uint64_t sector, uint64_t bytes) const;

  std::unique_ptr<DiskBackend> disk_;
  const std::string name_;
  std::string serial_;
  uint64_t features_;
  std::vector<uint8_t> config_;

  std::mutex mu_;  // activate/reset against the worker
  const GuestMemory* mem_ = nullptr;
  uint64_t driver_features_ = 0;
  std::optional<ActivatedQueue> queue_;
  bool broken_ = false;  // the ring was malformed: the queue is not used
  unsigned bad_requests_logged_ = 0;
  unsigned host_errors_logged_ = 0;
};

}  // namespace vmrun::devices::virtio
