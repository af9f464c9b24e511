// The driver's side of a split virtqueue, for device tests: lays out the
// descriptor table and rings in guest memory, builds chains with a fluent
// API and reads back the used ring. Header-only.
//
//   DriverQueue q(*mem, 16);
//   uint8_t* status;
//   uint16_t head = q.chain().readable_obj(header).writable(1,
//   &status).build();
//
// Buffers come from a bump allocator in a data area; the returned host
// pointers point into guest memory, so a test sees what the device wrote.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "devices/virtio/virtqueue.h"
#include "vmm/guest_memory.h"

namespace vmrun::test_support {

class DriverQueue;

class ChainBuilder {
 public:
  explicit ChainBuilder(DriverQueue& queue) : queue_(queue) {}

  // A readable buffer holding a copy of `bytes`.
  ChainBuilder& readable(std::span<const uint8_t> bytes);
  ChainBuilder& readable(std::string_view s) {
    return readable(
        std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
  }
  template <class T>
  ChainBuilder& readable_obj(const T& obj) {
    return readable(
        std::span(reinterpret_cast<const uint8_t*>(&obj), sizeof obj));
  }
  // A zeroed writable buffer; `*host` (if given) points at it.
  ChainBuilder& writable(uint32_t len, uint8_t** host = nullptr);
  // A descriptor with any address, length and flags (hostile tests).
  ChainBuilder& raw(uint64_t gpa, uint32_t len, uint16_t flags = 0);
  // The descriptors added from here on go into one indirect table.
  ChainBuilder& indirect() {
    in_indirect_ = true;
    return *this;
  }

  // Writes the chain and offers it on the available ring; returns its head.
  uint16_t build();
  // Writes the chain without offering it.
  uint16_t build_unpublished();

 private:
  struct Desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
  };
  ChainBuilder& add(Desc d) {
    (in_indirect_ ? indirect_ : direct_).push_back(d);
    return *this;
  }

  DriverQueue& queue_;
  std::vector<Desc> direct_;
  std::vector<Desc> indirect_;
  bool in_indirect_ = false;
};

class DriverQueue {
 public:
  static constexpr uint16_t kFNext = 1, kFWrite = 2, kFIndirect = 4;

  // The rings at `rings_gpa` (aligned as the spec asks), buffers from
  // `data_gpa` on.
  DriverQueue(const GuestMemory& mem, uint16_t size,
              uint64_t rings_gpa = 0x10000, uint64_t data_gpa = 0x100000)
      : mem_(mem),
        size_(size),
        desc_(rings_gpa),
        avail_(desc_ + 16ull * size),
        used_((avail_ + 6 + 2ull * size + 3) & ~3ull),
        next_data_(data_gpa) {
    // Fresh rings, as a driver allocates them.
    std::memset(host(desc_, used_ + 6 + 8ull * size - desc_), 0,
                used_ + 6 + 8ull * size - desc_);
  }

  devices::virtio::QueueConfig config() const {
    return {size_, desc_, avail_, used_};
  }
  uint16_t size() const { return size_; }
  const GuestMemory& memory() const { return mem_; }

  ChainBuilder chain() { return ChainBuilder(*this); }

  // A zeroed guest buffer of `len` bytes.
  uint64_t alloc(uint64_t len, uint64_t align = 16) {
    uint64_t gpa = (next_data_ + align - 1) & ~(align - 1);
    next_data_ = gpa + len;
    std::memset(host(gpa, len), 0, len);
    return gpa;
  }
  uint8_t* host(uint64_t gpa, uint64_t len = 1) const {
    auto s = mem_.slice(gpa, len);
    if (!s.ok()) throw std::runtime_error(s.error().message());
    return s.value().data();
  }

  // The next descriptor table slot, round robin (tests keep few in flight).
  uint16_t alloc_desc() { return next_desc_++ % size_; }
  void set_desc(uint16_t index, uint64_t addr, uint32_t len, uint16_t flags,
                uint16_t next = 0) {
    write_desc(desc_, index, addr, len, flags, next);
  }
  // A descriptor in any table (the ring's or an indirect one).
  void write_desc(uint64_t table, uint32_t index, uint64_t addr, uint32_t len,
                  uint16_t flags, uint16_t next) {
    uint8_t* p = host(table + 16ull * index, 16);
    std::memcpy(p, &addr, 8);
    std::memcpy(p + 8, &len, 4);
    std::memcpy(p + 12, &flags, 2);
    std::memcpy(p + 14, &next, 2);
  }

  // Offers `head` in the next available slot and publishes it.
  void publish(uint16_t head) {
    uint16_t idx = avail_idx();
    store16(avail_ + 4 + 2ull * (idx % size_), head);
    set_avail_idx(static_cast<uint16_t>(idx + 1));
  }
  uint16_t avail_idx() const { return load16(avail_ + 2); }
  void set_avail_idx(uint16_t idx) { store16(avail_ + 2, idx); }
  void set_avail_flags(uint16_t flags) { store16(avail_, flags); }
  void set_used_event(uint16_t idx) { store16(avail_ + 4 + 2ull * size_, idx); }
  uint16_t avail_event() const { return load16(used_ + 4 + 8ull * size_); }

  struct Used {
    uint32_t id;
    uint32_t len;
  };
  uint16_t used_idx() const { return load16(used_ + 2); }
  Used used(uint16_t index) const {
    Used u;
    std::memcpy(&u, host(used_ + 4 + 8ull * (index % size_), 8), 8);
    return u;
  }

 private:
  uint16_t load16(uint64_t gpa) const {
    uint16_t v;
    std::memcpy(&v, host(gpa, 2), 2);
    return v;
  }
  void store16(uint64_t gpa, uint16_t v) { std::memcpy(host(gpa, 2), &v, 2); }

  const GuestMemory& mem_;
  uint16_t size_;
  uint64_t desc_, avail_, used_;
  uint64_t next_data_;
  uint16_t next_desc_ = 0;
};

inline ChainBuilder& ChainBuilder::readable(std::span<const uint8_t> bytes) {
  uint64_t gpa = queue_.alloc(bytes.size());
  if (!bytes.empty()) {
    std::memcpy(queue_.host(gpa, bytes.size()), bytes.data(), bytes.size());
  }
  return add({gpa, static_cast<uint32_t>(bytes.size()), 0});
}

inline ChainBuilder& ChainBuilder::writable(uint32_t len, uint8_t** host) {
  uint64_t gpa = queue_.alloc(len);
  if (host) *host = queue_.host(gpa, len);
  return add({gpa, len, DriverQueue::kFWrite});
}

inline ChainBuilder& ChainBuilder::raw(uint64_t gpa, uint32_t len,
                                       uint16_t flags) {
  return add({gpa, len, flags});
}

inline uint16_t ChainBuilder::build_unpublished() {
  const bool has_table = in_indirect_;
  std::vector<uint16_t> slots;
  for (size_t i = 0; i < direct_.size() + (has_table ? 1 : 0); ++i) {
    slots.push_back(queue_.alloc_desc());
  }
  for (size_t i = 0; i < direct_.size(); ++i) {
    const bool last = i + 1 == slots.size();
    queue_.set_desc(slots[i], direct_[i].addr, direct_[i].len,
                    direct_[i].flags | (last ? 0 : DriverQueue::kFNext),
                    last ? 0 : slots[i + 1]);
  }
  if (has_table) {
    uint64_t table = queue_.alloc(16 * indirect_.size());
    for (size_t i = 0; i < indirect_.size(); ++i) {
      const bool last = i + 1 == indirect_.size();
      queue_.write_desc(table, static_cast<uint32_t>(i), indirect_[i].addr,
                        indirect_[i].len,
                        indirect_[i].flags | (last ? 0 : DriverQueue::kFNext),
                        last ? 0 : static_cast<uint16_t>(i + 1));
    }
    queue_.set_desc(slots.back(), table,
                    static_cast<uint32_t>(16 * indirect_.size()),
                    DriverQueue::kFIndirect);
  }
  return slots.at(0);
}

inline uint16_t ChainBuilder::build() {
  uint16_t head = build_unpublished();
  queue_.publish(head);
  return head;
}

}  // namespace vmrun::test_support
