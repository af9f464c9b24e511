// The fixture of the split virtqueue tests (virtqueue_test.cc,
// virtqueue_notify_test.cc, virtqueue_hostile_test.cc): guest memory, a
// driver-side fake queue (tests/support/virtq_builder.h) and helpers that
// pop chains from the device's side. Header-only.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>

#include "devices/virtio/virtqueue.h"
#include "tests/support/virtq_builder.h"
#include "vmm/guest_memory.h"

namespace vmrun::devices::virtio {

using test_support::DriverQueue;
inline constexpr uint64_t kMiB = 1ull << 20;
inline constexpr uint16_t kNext = DriverQueue::kFNext, kWrite = DriverQueue::kFWrite,
                   kIndirect = DriverQueue::kFIndirect;

inline std::unique_ptr<GuestMemory> make_memory(uint64_t size = 16 * kMiB) {
  auto mem = GuestMemory::create({{0, size}});
  if (!mem.ok()) throw std::runtime_error(mem.error().message());
  return std::move(mem).value();
}

class VirtqueueTest : public ::testing::Test {
 protected:
  Virtqueue make(bool event_idx = false) {
    auto q = Virtqueue::create(*mem_, driver_.config(), event_idx);
    if (!q.ok()) throw std::runtime_error(q.error().message());
    return std::move(q).value();
  }
  // Pops one chain, which must be there and well-formed.
  DescriptorChain pop_ok(Virtqueue& q) {
    auto r = q.pop();
    if (!r.ok()) throw std::runtime_error(r.error().message());
    if (!r.value()) throw std::runtime_error("queue empty");
    return *std::move(r).value();
  }
  // Pops expecting an error whose message contains `what`.
  void expect_pop_error(Virtqueue& q, const std::string& what) {
    auto r = q.pop();
    ASSERT_FALSE(r.ok()) << "expected an error about " << what;
    EXPECT_NE(r.error().message().find(what), std::string::npos)
        << r.error().message();
  }
  std::string read_all(const DescriptorChain& c) {
    std::string s(c.readable_bytes(), '\0');
    c.read(*mem_, 0, std::span(reinterpret_cast<uint8_t*>(s.data()), s.size()));
    return s;
  }

  std::unique_ptr<GuestMemory> mem_ = make_memory();
  DriverQueue driver_{*mem_, 16};
};

}  // namespace vmrun::devices::virtio
