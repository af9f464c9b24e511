// virtio-net's receive ring under pressure and under attack, driven as in
// virtio_net_test.cc (a SOCK_SEQPACKET socketpair as the tap): a packet
// waits, never lost, while the ring is full; a hostile ring stops the
// device until reset(); reset() forgets what was in flight.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "devices/virtio/net.h"
#include "tests/support/virtio_net_harness.h"
#include "tests/support/virtq_builder.h"

namespace vmrun::devices::virtio {
namespace {

using test_support::DriverQueue;
using test_support::with_buffers;
constexpr uint64_t kMemory = test_support::kVirtioNetMemory;
constexpr size_t kHdr = VirtioNet::kHeaderBytes;

// A zeroed header and a `frame_len`-byte frame whose bytes depend on `seed`.
std::vector<uint8_t> packet(size_t frame_len, uint8_t seed) {
  std::vector<uint8_t> p(kHdr + frame_len, 0);
  for (size_t i = 0; i < frame_len; ++i) {
    p[kHdr + i] = static_cast<uint8_t>(seed * 13 + i * 7 + i / 251);
  }
  return p;
}

class VirtioNetRingTest : public test_support::VirtioNetHarness {
 protected:
  VirtioNetRingTest() : VirtioNetHarness({2, 0, 0, 0, 0, 1}) {}

  void offer_many(int n, uint32_t len) {
    for (int i = 0; i < n; ++i) offer(len);
  }
  // The packets in the rx used ring, each gathered over as many entries as
  // its num_buffers says.
  std::vector<std::vector<uint8_t>> used_packets() const {
    std::vector<std::vector<uint8_t>> out;
    const uint16_t end = rx_->used_idx();
    for (uint16_t i = 0; i != end;) {
      const uint8_t* first = bufs_.at(static_cast<uint16_t>(rx_->used(i).id));
      uint16_t n;
      std::memcpy(&n, first + 10, 2);
      if (n == 0 || static_cast<uint16_t>(end - i) < n) break;
      out.push_back(used_bytes(i, static_cast<uint16_t>(i + n)));
      i = static_cast<uint16_t>(i + n);
    }
    return out;
  }
  // Reset, fresh rings, and one packet through: the device works again.
  void expect_works_after_reset() {
    net_->reset();
    activate(features());
    offer(2048);
    const auto p = packet(300, 99);
    send(p);
    net_->process_event(0);
    ASSERT_EQ(rx_->used_idx(), 1);
    EXPECT_EQ(used_bytes(0, 1), with_buffers(p, 1));
    EXPECT_TRUE(net_->event_wanted(0));
  }
};

// ---- back-pressure: the ring briefly full ----

TEST_F(VirtioNetRingTest, APacketWaitsForBuffers) {
  const auto p1 = packet(1000, 1), p2 = packet(1000, 2);
  send(p1);
  send(p2);
  net_->process_event(0);  // no buffers: p1 is read and kept
  EXPECT_EQ(rx_->used_idx(), 0);
  EXPECT_FALSE(net_->event_wanted(0));
  EXPECT_TRUE(device_fd_readable());  // p2 left in the socket
  net_->process_event(0);             // a spurious call reads nothing more
  EXPECT_EQ(rx_irqs_, 0);

  offer(2048);
  net_->process_queue(0);  // the driver's notification
  ASSERT_EQ(rx_->used_idx(), 1);
  EXPECT_EQ(used_bytes(0, 1), with_buffers(p1, 1));
  EXPECT_EQ(rx_irqs_, 1);
  EXPECT_FALSE(net_->event_wanted(0));  // p2 now waits
  offer(2048);
  net_->process_queue(0);
  ASSERT_EQ(rx_->used_idx(), 2);
  EXPECT_EQ(used_bytes(1, 2), with_buffers(p2, 1));
  EXPECT_TRUE(net_->event_wanted(0));
  EXPECT_FALSE(device_fd_readable());
  EXPECT_EQ(net_->rx_dropped(), 0u);
}

TEST_F(VirtioNetRingTest, TenPacketsThroughARingWithRoomForThree) {
  std::vector<std::vector<uint8_t>> sent;
  for (uint8_t i = 0; i < 10; ++i) {
    sent.push_back(packet(1514, i));
    send(sent.back());
  }
  offer_many(3, 2048);
  net_->process_event(0);
  EXPECT_EQ(rx_->used_idx(), 3);
  EXPECT_FALSE(net_->event_wanted(0));
  for (int step : {2, 1, 3, 1}) {
    offer_many(step, 2048);
    net_->process_queue(0);
  }
  std::vector<std::vector<uint8_t>> want;
  for (const auto& p : sent) want.push_back(with_buffers(p, 1));
  EXPECT_EQ(used_packets(), want);
  EXPECT_EQ(net_->rx_packets(), 10u);
  EXPECT_EQ(net_->rx_dropped(), 0u);
  EXPECT_TRUE(net_->event_wanted(0));
  EXPECT_FALSE(device_fd_readable());
}

TEST_F(VirtioNetRingTest, TenPacketsThroughFewMergeableBuffers) {
  activate(features() | kFRingEventIdx);
  std::vector<std::vector<uint8_t>> sent;
  for (uint8_t i = 0; i < 10; ++i) {
    sent.push_back(packet(1514, i));
    send(sent.back());
  }
  // Each packet takes two 1 KiB buffers: odd steps leave one held while
  // a packet waits for its second.
  offer_many(3, 1024);
  net_->process_event(0);
  EXPECT_EQ(rx_->used_idx(), 2);
  EXPECT_FALSE(net_->event_wanted(0));
  EXPECT_EQ(rx_->avail_event(), 3);  // the driver is asked to notify
  for (int step : {1, 5, 3, 8}) {
    offer_many(step, 1024);
    net_->process_queue(0);
  }
  std::vector<std::vector<uint8_t>> want;
  for (const auto& p : sent) want.push_back(with_buffers(p, 2));
  EXPECT_EQ(used_packets(), want);
  EXPECT_EQ(rx_->used_idx(), 20);
  EXPECT_EQ(net_->rx_dropped(), 0u);
  EXPECT_TRUE(net_->event_wanted(0));
}

TEST_F(VirtioNetRingTest, ARingFullOfSmallBuffersDropsAPacketThatCannotFit) {
  // 256 mergeable buffers of 64 bytes hold 16 KiB: a 64 KiB packet can
  // never fit, so it is dropped and every buffer is returned empty.
  offer_many(256, 64);
  send(packet(65000, 1));
  net_->process_event(0);
  ASSERT_EQ(rx_->used_idx(), 256);
  for (uint16_t i = 0; i < 256; ++i) EXPECT_EQ(rx_->used(i).len, 0u) << i;
  EXPECT_EQ(net_->rx_dropped(), 1u);
  EXPECT_EQ(rx_irqs_, 1);
  // And receive goes on.
  offer(2048);
  const auto p = packet(60, 2);
  send(p);
  net_->process_event(0);
  ASSERT_EQ(rx_->used_idx(), 257);
  EXPECT_EQ(used_bytes(256, 257), with_buffers(p, 1));
}

// A ring (smaller than the device's maximum) whose buffers together cannot
// hold a packet: the packet is dropped and the buffers returned, instead of
// the device holding every buffer and waiting for more that can never come.
TEST_F(VirtioNetRingTest, ASmallRingThatCannotHoldAPacketDoesNotStall) {
  activate(features(), /*rx_size=*/8);
  offer_many(8, 1024);
  send(packet(65000, 1));
  net_->process_event(0);
  EXPECT_EQ(rx_->used_idx(), 8);  // all returned, empty
  EXPECT_EQ(net_->rx_dropped(), 1u);
  EXPECT_TRUE(net_->event_wanted(0));
  offer(2048);
  send(packet(60, 2));
  net_->process_event(0);
  EXPECT_EQ(rx_->used_idx(), 9);
}

// A merged packet's buffers are published with one used-index store: a
// driver polling the ring (Linux's NAPI loop) never sees the first buffer,
// whose num_buffers says N, before the other N-1.
TEST_F(VirtioNetRingTest, AMergedPacketIsPublishedAllAtOnce) {
  const uint8_t* used_idx = rx_->host(rx_->config().used + 2, 2);
  std::atomic<bool> stop{false};
  std::set<uint16_t> seen;
  std::thread driver([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      seen.insert(__atomic_load_n(reinterpret_cast<const uint16_t*>(used_idx),
                                  __ATOMIC_ACQUIRE));
    }
  });
  // 30 packets of 16 buffers each.
  for (uint8_t i = 0; i < 30; ++i) {
    offer_many(16, 4096);
    send(packet(65000, i));
    net_->process_event(0);
  }
  stop = true;
  driver.join();
  EXPECT_EQ(rx_->used_idx(), 30 * 16);
  std::vector<uint16_t> mid_packet;  // indexes a driver saw mid-packet
  for (uint16_t idx : seen) {
    if (idx % 16 != 0) mid_packet.push_back(idx);
  }
  EXPECT_TRUE(mid_packet.empty())
      << mid_packet.size() << " used indexes seen mid-packet, e.g. "
      << mid_packet.front();
}

// ---- hostile rings ----

// Each breaks the receive ring; the device must then leave both queues
// alone until reset(), and work again after it.
TEST_F(VirtioNetRingTest, AHostileReceiveRingStopsTheDeviceUntilReset) {
  const std::map<std::string, std::function<void(DriverQueue&)>> attacks = {
      {"buffer outside memory",
       [](DriverQueue& q) {
         q.chain().raw(kMemory - 1024, 2048, DriverQueue::kFWrite).build();
       }},
      {"buffer at the top of the address space",
       [](DriverQueue& q) {
         q.chain().raw(~0ull - 100, 2048, DriverQueue::kFWrite).build();
       }},
      {"indirect table outside memory",
       [](DriverQueue& q) {
         q.chain().raw(kMemory, 64, DriverQueue::kFIndirect).build();
       }},
      {"head past the ring", [](DriverQueue& q) { q.publish(q.size()); }},
      {"available index far ahead",
       [](DriverQueue& q) {
         q.set_avail_idx(static_cast<uint16_t>(q.size() + 1));
       }},
      {"descriptor loop",
       [](DriverQueue& q) {
         const uint16_t d = q.alloc_desc();
         q.set_desc(d, q.alloc(64), 64,
                    DriverQueue::kFWrite | DriverQueue::kFNext, d);
         q.publish(d);
       }},
  };
  for (const auto& [name, attack] : attacks) {
    SCOPED_TRACE(name);
    net_->reset();
    activate(features());
    const int irqs = rx_irqs_ + tx_irqs_;
    attack(*rx_);
    send(packet(500, 1));
    net_->process_event(0);
    EXPECT_EQ(rx_->used_idx(), 0);
    EXPECT_FALSE(net_->event_wanted(0));
    // Later calls are no-ops: good buffers stay unused, nothing is sent.
    offer(2048);
    tx_->chain().readable(packet(60, 2)).build();
    net_->process_queue(0);
    net_->process_queue(1);
    net_->process_event(0);
    EXPECT_EQ(rx_->used_idx(), 0);
    EXPECT_EQ(tx_->used_idx(), 0);
    EXPECT_FALSE(peer_has_mail());
    EXPECT_EQ(rx_irqs_ + tx_irqs_, irqs);
    // The packet read as the ring broke is lost with the reset, and not
    // counted as dropped.
    expect_works_after_reset();
    EXPECT_EQ(net_->rx_dropped(), 0u);
  }
}

TEST_F(VirtioNetRingTest, AHostileTransmitRingStopsReceiveToo) {
  tx_->chain().readable(packet(60, 1)).raw(kMemory - 10, 100).build();
  net_->process_queue(1);
  EXPECT_EQ(tx_->used_idx(), 0);
  EXPECT_FALSE(peer_has_mail());
  // One device, one broken state: receive stops as well.
  offer(2048);
  send(packet(60, 2));
  net_->process_event(0);
  EXPECT_EQ(rx_->used_idx(), 0);
  EXPECT_FALSE(net_->event_wanted(0));
  EXPECT_TRUE(device_fd_readable());
  // That packet was never read: it survives the reset.
  net_->reset();
  activate(features());
  offer(2048);
  net_->process_queue(0);
  ASSERT_EQ(rx_->used_idx(), 1);
  EXPECT_EQ(used_bytes(0, 1), with_buffers(packet(60, 2), 1));
  expect_works_after_reset();
}

TEST_F(VirtioNetRingTest, NeverWritesIntoReadableReceiveDescriptors) {
  // A receive chain with a readable descriptor breaks the spec (receive
  // buffers are device-writable only): the device stops using the queue,
  // and the readable memory stays untouched.
  const std::vector<uint8_t> pattern(64, 0xab);
  const uint64_t gpa = rx_->alloc(64);
  std::memcpy(rx_->host(gpa, 64), pattern.data(), 64);
  auto readable = [&] {
    return std::vector<uint8_t>(rx_->host(gpa), rx_->host(gpa) + 64);
  };
  uint8_t* writable;
  rx_->chain().raw(gpa, 64, 0).writable(2048, &writable).build();
  send(packet(500, 1));
  net_->process_event(0);
  EXPECT_EQ(rx_->used_idx(), 0);
  EXPECT_FALSE(net_->event_wanted(0));
  EXPECT_EQ(readable(), pattern);
  expect_works_after_reset();
}

// A receive chain with nothing writable is a broken ring: were it held as
// a 0-byte buffer, the driver would see an empty first buffer of a packet.
TEST_F(VirtioNetRingTest, AReadableOnlyReceiveChainStopsTheDevice) {
  rx_->chain().readable(std::vector<uint8_t>(2048, 0xab)).build();
  send(packet(500, 1));
  net_->process_event(0);
  offer(2048);
  net_->process_queue(0);
  EXPECT_EQ(rx_->used_idx(), 0);
  EXPECT_FALSE(net_->event_wanted(0));
  expect_works_after_reset();
}

TEST_F(VirtioNetRingTest, TooManyTransmitDescriptorsDropThePacket) {
  // More pieces than writev() takes (1024): dropped, returned, no crash.
  const auto p = packet(1100, 1);
  auto chain = tx_->chain();
  chain.readable(std::span(p.data(), kHdr)).indirect();
  for (size_t i = kHdr; i < p.size(); ++i) chain.readable(std::span(&p[i], 1));
  chain.build();
  tx_->chain().readable(p).build();
  net_->process_queue(1);
  EXPECT_EQ(tx_->used_idx(), 2);
  std::vector<uint8_t> got(p.size() + 1);
  EXPECT_EQ(::recv(peer_.get(), got.data(), got.size(), MSG_DONTWAIT),
            static_cast<ssize_t>(p.size()));
  EXPECT_FALSE(peer_has_mail());
  EXPECT_EQ(net_->tx_packets(), 1u);
}

// ---- reset ----

TEST_F(VirtioNetRingTest, ResetDropsTheStagedPacketAndHeldBuffers) {
  // A 1514-byte frame waits with one of the two 1 KiB buffers it needs.
  offer(1024);
  send(packet(1514, 1));
  net_->process_event(0);
  EXPECT_EQ(rx_->used_idx(), 0);
  net_->reset();
  // Inactive: nothing is read or used.
  EXPECT_FALSE(net_->event_wanted(0));
  send(packet(60, 2));
  net_->process_event(0);
  net_->process_queue(0);
  EXPECT_TRUE(device_fd_readable());
  EXPECT_EQ(rx_->used_idx(), 0);  // the held buffer is never returned
  // Fresh rings: the staged packet is gone; the one sent while inactive
  // is the first delivered. Neither loss counts as a drop.
  activate(features());
  offer(2048);
  net_->process_queue(0);
  ASSERT_EQ(rx_->used_idx(), 1);
  EXPECT_EQ(used_bytes(0, 1), with_buffers(packet(60, 2), 1));
  EXPECT_FALSE(device_fd_readable());
  EXPECT_EQ(net_->rx_dropped(), 0u);
  EXPECT_EQ(net_->rx_packets(), 1u);
}

TEST_F(VirtioNetRingTest, InactiveDeviceTouchesNothing) {
  net_->reset();
  offer(2048);
  tx_->chain().readable(packet(60, 1)).build();
  send(packet(60, 2));
  EXPECT_FALSE(net_->event_wanted(0));
  net_->process_event(0);
  net_->process_queue(0);
  net_->process_queue(1);
  EXPECT_EQ(rx_->used_idx(), 0);
  EXPECT_EQ(tx_->used_idx(), 0);
  EXPECT_TRUE(device_fd_readable());
  EXPECT_FALSE(peer_has_mail());
  net_->reset();  // twice is fine
}

}  // namespace
}  // namespace vmrun::devices::virtio
