// virtio-9p (virtio 1.x, 5.x "9P transport"): a shared host directory the
// guest mounts by tag (`mount -t 9p TAG /mnt -o trans=virtio`). One request
// queue; each chain holds a whole 9P request (readable) and room for the
// reply (writable). Requests are served by a p9::Server on the device's
// worker thread, never on a vCPU.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "devices/p9/server.h"
#include "devices/virtio/virtio_device.h"

namespace vmrun::devices::virtio {

class Virtio9p : public VirtioDevice {
 public:
  static constexpr uint16_t kQueueSize = 128;
  static constexpr size_t kMaxTagBytes = 31;

  Virtio9p(std::unique_ptr<p9::Server> server, std::string tag);

  uint16_t device_id() const override { return 9; }
  uint64_t device_features() const override;
  size_t num_queues() const override { return 1; }
  uint16_t max_queue_size() const override { return kQueueSize; }
  void read_config(uint64_t offset, std::span<uint8_t> data) override;
  void write_config(uint64_t, std::span<const uint8_t>) override {}
  Result<void> activate(const GuestMemory& mem, uint64_t features,
                        std::vector<ActivatedQueue> queues) override;
  void process_queue(size_t index) override;
  void reset() override;

 private:
  std::optional<uint32_t> serve_io(const DescriptorChain& chain);

  std::unique_ptr<p9::Server> server_;
  std::string tag_;
  std::vector<uint8_t> config_;  // tag_len (le16) and the tag

  std::mutex mu_;
  const GuestMemory* mem_ = nullptr;
  std::optional<ActivatedQueue> queue_;
  bool broken_ = false;
  std::vector<uint8_t> request_;  // reused buffer
};

}  // namespace vmrun::devices::virtio
