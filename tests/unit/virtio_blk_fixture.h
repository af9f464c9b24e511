// The fixture of the virtio-blk tests (virtio_blk_test.cc,
// virtio_blk_errors_test.cc): the request layout a driver sends, and a
// device activated on one driver-side queue (tests/support/virtq_builder.h)
// over a MemoryDisk (tests/support/memory_disk.h). Header-only.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "devices/disk.h"
#include "devices/virtio/blk.h"
#include "tests/support/memory_disk.h"
#include "tests/support/virtq_builder.h"

namespace vmrun::devices::virtio {

using test_support::DriverQueue;
using test_support::MemoryDisk;
inline constexpr uint64_t kMiB = 1ull << 20;
inline constexpr uint8_t kUnwritten = 0xee;

inline uint64_t bit(unsigned n) { return 1ull << n; }

struct Header {
  uint32_t type;
  uint32_t ioprio;
  uint64_t sector;
};

struct Segment {
  uint64_t sector;
  uint32_t num_sectors;
  uint32_t flags;
};

struct Request {
  uint8_t* data = nullptr;    // the IN data buffer, if any
  uint8_t* status = nullptr;  // the status byte
  uint16_t head = 0;
};

class VirtioBlkTest : public ::testing::Test {
 protected:
  VirtioBlkTest() { start(std::make_unique<MemoryDisk>(1 * kMiB)); }

  void start(std::unique_ptr<MemoryDisk> disk, std::string serial = "",
             bool event_idx = false) {
    disk_ = disk.get();
    for (size_t i = 0; i < disk_->data.size(); ++i) {
      disk_->data[i] = static_cast<uint8_t>(i * 7 + i / 512);
    }
    blk_ =
        std::make_unique<VirtioBlk>(std::move(disk), "blk0", std::move(serial));
    activate(blk_->device_features(), event_idx);
  }

  void activate(uint64_t features, bool event_idx = false) {
    driver_ = std::make_unique<DriverQueue>(*mem_, 16);
    auto q = Virtqueue::create(*mem_, driver_->config(), event_idx);
    ASSERT_TRUE(q.ok()) << q.error().message();
    std::vector<ActivatedQueue> queues;
    queues.push_back({std::move(q).value(), [this] { ++interrupts_; }});
    auto r = blk_->activate(*mem_, features, std::move(queues));
    ASSERT_TRUE(r.ok()) << r.error().message();
  }

  // Offers a request: header, `out` as readable data, `in_len` writable
  // data bytes and a status byte; does not process it.
  Request offer(uint32_t type, uint64_t sector,
                const std::vector<uint8_t>& out = {}, uint32_t in_len = 0) {
    Request req;
    auto chain = driver_->chain();
    chain.readable_obj(Header{type, 0, sector});
    if (!out.empty()) chain.readable(out);
    if (in_len > 0) chain.writable(in_len, &req.data);
    chain.writable(1, &req.status);
    *req.status = kUnwritten;
    req.head = chain.build();
    return req;
  }

  Request submit(uint32_t type, uint64_t sector,
                 const std::vector<uint8_t>& out = {}, uint32_t in_len = 0) {
    Request req = offer(type, sector, out, in_len);
    blk_->process_queue(0);
    return req;
  }

  uint8_t discard(uint32_t type, std::vector<Segment> segments) {
    std::vector<uint8_t> bytes(segments.size() * sizeof(Segment));
    std::memcpy(bytes.data(), segments.data(), bytes.size());
    return *submit(type, 0, bytes).status;
  }

  std::vector<uint8_t> disk_bytes(uint64_t offset, uint64_t len) const {
    return {disk_->data.begin() + offset, disk_->data.begin() + offset + len};
  }
  DriverQueue::Used last_used() const {
    return driver_->used(static_cast<uint16_t>(driver_->used_idx() - 1));
  }
  template <class T>
  T config(size_t offset) {
    T v;
    blk_->read_config(offset,
                      std::span(reinterpret_cast<uint8_t*>(&v), sizeof v));
    return v;
  }

  std::unique_ptr<GuestMemory> mem_ =
      GuestMemory::create({{0, 16 * kMiB}}).value();
  std::unique_ptr<DriverQueue> driver_;
  MemoryDisk* disk_ = nullptr;
  std::unique_ptr<VirtioBlk> blk_;
  int interrupts_ = 0;
};

}  // namespace vmrun::devices::virtio
