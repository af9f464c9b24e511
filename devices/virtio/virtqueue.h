// A split virtqueue (virtio 1.x, section 2.7) seen from the device side,
// over guest memory. Everything the guest wrote is hostile: indexes, addresses,
// lengths, flags and chains are validated; a bad ring is reported as an Error
// (the device then stops using the queue) and never touches host memory
// outside guest RAM.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "vmm/guest_memory.h"
#include "vmm/result.h"

namespace vmrun::devices::virtio {

// Where the driver put the queue, as written to the transport's registers.
struct QueueConfig {
  uint16_t size = 0;  // a power of 2, 1..32768
  uint64_t desc = 0;
  uint64_t avail = 0;
  uint64_t used = 0;
};

// One guest buffer of a chain, already checked to lie inside guest memory.
struct Buffer {
  uint64_t gpa;
  uint32_t len;
};

// A popped descriptor chain: the driver's readable buffers, then its
// writable ones (the spec's order; a readable after a writable is an error).
class DescriptorChain {
 public:
  uint16_t head() const { return head_; }
  const std::vector<Buffer>& readable() const { return readable_; }
  const std::vector<Buffer>& writable() const { return writable_; }
  uint64_t readable_bytes() const;
  uint64_t writable_bytes() const;

  // Copies up to out.size() bytes from the readable buffers, starting
  // `offset` bytes in; returns the count copied.
  size_t read(const GuestMemory& mem, uint64_t offset, std::span<uint8_t> out) const;
  // Copies into the writable buffers starting `offset` bytes in; returns
  // the count copied (less than in.size() if the buffers are too small).
  size_t write(const GuestMemory& mem, uint64_t offset, std::span<const uint8_t> in) const;

 private:
  friend class Virtqueue;
  uint16_t head_ = 0;
  std::vector<Buffer> readable_;
  std::vector<Buffer> writable_;
};

class Virtqueue {
 public:
  // Limits that bound a hostile chain: total descriptors visited (direct and
  // indirect) and total bytes.
  static constexpr uint32_t kMaxChainDescriptors = 4096;
  static constexpr uint64_t kMaxChainBytes = 1ull << 32;

  // Fails if the size is not a power of two up to 32768 or a ring does not
  // lie in guest memory (with the alignment the spec requires).
  static Result<Virtqueue> create(const GuestMemory& mem, QueueConfig config,
                                  bool event_idx);

  // The next available chain, nullopt when the driver has offered none, or
  // an Error for a malformed ring or chain (loop, bad index, out-of-range
  // address, bad indirect table, too long).
  Result<std::optional<DescriptorChain>> pop();

  // Puts `head` on the used ring with `written` bytes (what the device wrote
  // into the writable buffers) and publishes the new used index.
  Result<void> push_used(uint16_t head, uint32_t written);
  // Several at once, published with one used-index update (a network
  // packet spread over merged receive buffers).
  struct UsedElem {
    uint16_t head;
    uint32_t written;
  };
  Result<void> push_used(std::span<const UsedElem> elems);

  // Whether the driver wants an interrupt for what was pushed since the last
  // call: VIRTQ_AVAIL_F_NO_INTERRUPT, or with EVENT_IDX the used_event index.
  bool should_notify();

  uint16_t size() const { return config_.size; }
  const QueueConfig& config() const { return config_; }

 private:
  Virtqueue(const GuestMemory& mem, QueueConfig config, bool event_idx)
      : mem_(&mem), config_(config), event_idx_(event_idx) {}

  struct Walk;  // the running totals of one pop(), in virtqueue.cc
  Result<void> add_buffer(Walk& walk, uint64_t addr, uint32_t len,
                          uint16_t flags) const;
  Result<void> walk_indirect(Walk& walk, uint64_t addr, uint32_t len) const;

  const GuestMemory* mem_;
  QueueConfig config_;
  bool event_idx_;
  // Host views of the three rings, checked once by create(); guest memory
  // outlives every queue over it.
  uint8_t* desc_ = nullptr;
  uint8_t* avail_ = nullptr;
  uint8_t* used_ = nullptr;
  uint16_t next_avail_ = 0;       // next avail ring slot we will read
  uint16_t next_used_ = 0;        // next used ring slot we will write
  uint16_t signalled_used_ = 0;   // used index at the last notification
};

}  // namespace vmrun::devices::virtio
