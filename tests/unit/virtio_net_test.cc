// virtio-net driven as the VirtioPci transport drives it (activate with two
// queues, process_queue on a notification, process_event when the packet
// descriptor is readable), over a SOCK_SEQPACKET socketpair standing in for
// the tap: each message is a 12-byte virtio-net header and the frame.
// Identity, config space, features and offloads, transmit, and receive with
// and without mergeable buffers, including back-pressure when the ring is
// full. Hostile rings and reset: virtio_net_hostile_test.cc.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

#include "devices/net/tap.h"
#include "devices/virtio/net.h"
#include "tests/support/virtio_net_harness.h"

namespace vmrun::devices::virtio {
namespace {

using test_support::with_buffers;
constexpr size_t kHdr = VirtioNet::kHeaderBytes;
constexpr std::array<uint8_t, 6> kMac = {0x52, 0x54, 0x00, 0xab, 0xcd, 0xef};

// Feature bits (virtio 1.x, 5.1.3).
constexpr unsigned kCsum = 0, kGuestCsum = 1, kMacF = 5, kGuestTso4 = 7,
                   kGuestTso6 = 8, kGuestEcn = 9, kHostTso4 = 11,
                   kHostTso6 = 12, kMrgRxbuf = 15, kStatusF = 16, kCtrlVq = 17,
                   kMq = 22;
uint64_t bit(unsigned n) { return 1ull << n; }

struct NetHeader {  // virtio_net_hdr_mrg_rxbuf
  uint8_t flags = 0;
  uint8_t gso_type = 0;
  uint16_t hdr_len = 0, gso_size = 0, csum_start = 0, csum_offset = 0;
  uint16_t num_buffers = 0;
};
static_assert(sizeof(NetHeader) == kHdr);

// A header and a `frame_len`-byte frame whose bytes depend on `seed`.
std::vector<uint8_t> packet(size_t frame_len, uint8_t seed, NetHeader h = {}) {
  std::vector<uint8_t> p(kHdr + frame_len);
  std::memcpy(p.data(), &h, kHdr);
  for (size_t i = 0; i < frame_len; ++i) {
    p[kHdr + i] = static_cast<uint8_t>(seed + i * 7 + i / 251);
  }
  return p;
}

class VirtioNetTest : public test_support::VirtioNetHarness {
 protected:
  VirtioNetTest() : VirtioNetHarness(kMac) {}
};

// ---- identity, config space, features ----

TEST_F(VirtioNetTest, Identity) {
  EXPECT_EQ(net_->device_id(), 1);
  EXPECT_EQ(net_->num_queues(), 2u);
  EXPECT_EQ(net_->max_queue_size(), 256);
  EXPECT_FALSE(net_->kernel_handles_queues());
  EXPECT_EQ(net_->event_fds(), std::vector<int>{device_fd_});
}

TEST_F(VirtioNetTest, ConfigSpace) {
  std::array<uint8_t, 10> c{};
  net_->read_config(0, c);
  EXPECT_TRUE(std::equal(kMac.begin(), kMac.end(), c.begin()));
  EXPECT_EQ(c[6] | c[7] << 8, 1);  // status: VIRTIO_NET_S_LINK_UP
  EXPECT_EQ(c[8] | c[9] << 8, 1);  // max_virtqueue_pairs
  // Byte by byte, across the end, and far past it: zeros.
  uint8_t b;
  net_->read_config(5, std::span(&b, 1));
  EXPECT_EQ(b, kMac[5]);
  std::array<uint8_t, 8> across;
  across.fill(0xff);
  net_->read_config(8, across);
  EXPECT_EQ(across, (std::array<uint8_t, 8>{1, 0, 0, 0, 0, 0, 0, 0}));
  for (uint64_t off :
       {uint64_t{10}, uint64_t{0x100}, UINT64_MAX - 1, UINT64_MAX}) {
    std::array<uint8_t, 4> past;
    past.fill(0xff);
    net_->read_config(off, past);
    EXPECT_EQ(past, (std::array<uint8_t, 4>{})) << off;
  }
  // Writes change nothing.
  const std::array<uint8_t, 6> junk = {1, 2, 3, 4, 5, 6};
  net_->write_config(0, junk);
  net_->read_config(0, c);
  EXPECT_TRUE(std::equal(kMac.begin(), kMac.end(), c.begin()));
}

TEST_F(VirtioNetTest, OffersFeatures) {
  const uint64_t f = net_->device_features();
  for (uint64_t want :
       {kFVersion1, kFRingIndirectDesc, kFRingEventIdx, bit(kMacF),
        bit(kStatusF), bit(kMrgRxbuf), bit(kCsum), bit(kGuestCsum),
        bit(kHostTso4), bit(kHostTso6), bit(kGuestTso4), bit(kGuestTso6)}) {
    EXPECT_TRUE(f & want) << std::hex << want;
  }
  // One queue pair, no control queue.
  EXPECT_FALSE(f & bit(kCtrlVq));
  EXPECT_FALSE(f & bit(kMq));
}

TEST_F(VirtioNetTest, OffloadsFollowTheGuestFeatures) {
  using namespace net;
  struct Case {
    uint64_t features;
    unsigned flags;
  } cases[] = {
      {features(), kTapCsum | kTapTso4 | kTapTso6 | kTapTsoEcn},
      {kFVersion1, 0},
      {kFVersion1 | bit(kGuestCsum), kTapCsum},
      {kFVersion1 | bit(kGuestCsum) | bit(kGuestTso4), kTapCsum | kTapTso4},
      {kFVersion1 | bit(kGuestCsum) | bit(kGuestTso6), kTapCsum | kTapTso6},
      // Segmentation offloads are meaningless without checksum offload.
      {kFVersion1 | bit(kGuestTso4) | bit(kGuestTso6) | bit(kGuestEcn), 0},
      // The host's offloads are not the tap's to receive.
      {kFVersion1 | bit(kCsum) | bit(kHostTso4) | bit(kHostTso6), 0},
  };
  for (const Case& c : cases) {
    offloads_.clear();
    activate(c.features);
    EXPECT_EQ(offloads_, std::vector<unsigned>{c.flags})
        << std::hex << c.features;
  }
}

TEST_F(VirtioNetTest, ActivateFailsWithoutBothQueuesOrOffloads) {
  EXPECT_FALSE(net_->activate(*mem_, features(), {}).ok());
  offload_fails_ = true;
  auto q = Virtqueue::create(*mem_, rx_->config(), false);
  auto t = Virtqueue::create(*mem_, tx_->config(), false);
  std::vector<ActivatedQueue> queues;
  queues.push_back({std::move(q).value(), [] {}, -1});
  queues.push_back({std::move(t).value(), [] {}, -1});
  EXPECT_FALSE(net_->activate(*mem_, features(), std::move(queues)).ok());
}

// ---- transmit ----

TEST_F(VirtioNetTest, TransmitsHeaderAndFrame) {
  NetHeader h;
  h.flags = 1;  // NEEDS_CSUM: passed through untouched
  h.csum_start = 34;
  h.csum_offset = 16;
  const auto p = packet(1514, 3, h);
  const uint16_t head =
      tx_->chain()
          .readable(std::span(p.data(), kHdr))
          .readable(std::span(p.data() + kHdr, p.size() - kHdr))
          .build();
  net_->process_queue(1);
  EXPECT_EQ(receive(), p);
  EXPECT_EQ(receive(), std::nullopt);
  ASSERT_EQ(tx_->used_idx(), 1);
  EXPECT_EQ(tx_->used(0).id, head);
  EXPECT_EQ(tx_->used(0).len, 0u);
  EXPECT_EQ(tx_irqs_, 1);
  EXPECT_EQ(rx_irqs_, 0);
  EXPECT_EQ(net_->tx_packets(), 1u);
}

TEST_F(VirtioNetTest, TransmitGathersSplitAndIndirectDescriptors) {
  const auto p = packet(3000, 9);
  const uint8_t* d = p.data();
  tx_->chain()
      .readable(std::span(d, 5))  // the header split over two
      .readable(std::span(d + 5, 7))
      .indirect()
      .readable(std::span(d + 12, 1))
      .readable(std::span(d + 13, 2000))
      .readable(std::span(d + 2013, p.size() - 2013))
      .build();
  // Writable descriptors at the end (not expected on tx) are not sent.
  tx_->chain().readable(p).writable(100).build();
  net_->process_queue(1);
  EXPECT_EQ(receive(), p);
  EXPECT_EQ(receive(), p);
  EXPECT_EQ(tx_->used_idx(), 2);
  EXPECT_EQ(tx_irqs_, 1);  // one for the batch
}

TEST_F(VirtioNetTest, TransmitDropsHeaderOnlyAndOversizedChains) {
  const auto header = packet(0, 0);
  tx_->chain().readable(header).build();                       // just a header
  tx_->chain().readable(std::span(header.data(), 5)).build();  // less
  tx_->chain().writable(64).build();  // nothing to send
  std::vector<uint8_t> big(VirtioNet::kMaxPacket + 1, 0x5a);
  tx_->chain().readable(big).build();
  const auto good = packet(60, 1);
  tx_->chain().readable(good).build();
  net_->process_queue(1);
  EXPECT_EQ(receive(), good);  // only the last one
  EXPECT_EQ(receive(), std::nullopt);
  ASSERT_EQ(tx_->used_idx(), 5);  // every chain returned, nothing written
  for (uint16_t i = 0; i < 5; ++i) EXPECT_EQ(tx_->used(i).len, 0u);
  EXPECT_EQ(net_->tx_packets(), 1u);
}

TEST_F(VirtioNetTest, TransmitsA64KiBGsoPacket) {
  NetHeader h;
  h.flags = 1;
  h.gso_type = 1;  // TCPV4
  h.gso_size = 1448;
  h.hdr_len = 54;
  const auto p = packet(65000, 77, h);
  tx_->chain()
      .readable(std::span(p.data(), kHdr))
      .indirect()
      .readable(std::span(p.data() + kHdr, 40000))
      .readable(std::span(p.data() + kHdr + 40000, 25000))
      .build();
  net_->process_queue(1);
  EXPECT_EQ(receive(), p);
}

TEST_F(VirtioNetTest, TransmitInterruptFollowsTheRingsRules) {
  tx_->set_avail_flags(1);  // VIRTQ_AVAIL_F_NO_INTERRUPT
  tx_->chain().readable(packet(60, 1)).build();
  net_->process_queue(1);
  EXPECT_EQ(tx_->used_idx(), 1);
  EXPECT_EQ(tx_irqs_, 0);

  activate(features() | kFRingEventIdx);
  tx_->set_used_event(1);  // an interrupt once the second entry is used
  tx_->chain().readable(packet(60, 1)).build();
  net_->process_queue(1);
  EXPECT_EQ(tx_irqs_, 0);
  tx_->chain().readable(packet(60, 2)).build();
  net_->process_queue(1);
  EXPECT_EQ(tx_irqs_, 1);
  EXPECT_EQ(tx_->avail_event(), 2);
  // Nothing new: no interrupt.
  net_->process_queue(1);
  EXPECT_EQ(tx_irqs_, 1);
}

// ---- receive ----

TEST_F(VirtioNetTest, ReceivesIntoOneBuffer) {
  NetHeader h;
  h.flags = 2;  // DATA_VALID: passed through
  const auto p = packet(100, 4, h);
  const uint16_t head = offer(2048);
  send(p);
  net_->process_event(0);
  ASSERT_EQ(rx_->used_idx(), 1);
  EXPECT_EQ(rx_->used(0).id, head);
  EXPECT_EQ(rx_->used(0).len, p.size());
  EXPECT_EQ(used_bytes(0, 1), with_buffers(p, 1));
  EXPECT_EQ(rx_irqs_, 1);
  EXPECT_EQ(tx_irqs_, 0);
  EXPECT_EQ(net_->rx_packets(), 1u);
  EXPECT_TRUE(net_->event_wanted(0));
}

TEST_F(VirtioNetTest, MergeableBuffersSplitAFrame) {
  for (int i = 0; i < 4; ++i) offer(1024);
  const auto p = packet(1514, 5);
  send(p);
  net_->process_event(0);
  ASSERT_EQ(rx_->used_idx(), 2);
  EXPECT_EQ(rx_->used(0).len, 1024u);
  EXPECT_EQ(rx_->used(1).len, kHdr + 1514 - 1024);
  EXPECT_EQ(used_bytes(0, 2), with_buffers(p, 2));
  EXPECT_EQ(rx_irqs_, 1);
  // The next packet goes to the next buffers, in the order offered.
  const auto small = packet(200, 6);
  send(small);
  net_->process_event(0);
  ASSERT_EQ(rx_->used_idx(), 3);
  EXPECT_EQ(used_bytes(2, 3), with_buffers(small, 1));
  EXPECT_EQ(net_->rx_packets(), 2u);
  EXPECT_EQ(net_->rx_dropped(), 0u);
}

TEST_F(VirtioNetTest, ReceivesA64KiBGsoPacketInto4KiBBuffers) {
  for (int i = 0; i < 20; ++i) offer(4096);
  NetHeader h;
  h.flags = 1;
  h.gso_type = 4;  // TCPV6
  h.gso_size = 1428;
  h.hdr_len = 74;
  h.csum_start = 54;
  h.csum_offset = 16;
  const auto p = packet(65000, 8, h);
  send(p);
  net_->process_event(0);
  const uint16_t n = (kHdr + 65000 + 4095) / 4096;  // 16
  ASSERT_EQ(rx_->used_idx(), n);
  uint64_t total = 0;
  for (uint16_t i = 0; i < n; ++i) total += rx_->used(i).len;
  EXPECT_EQ(total, p.size());
  EXPECT_EQ(used_bytes(0, n), with_buffers(p, n));
  EXPECT_EQ(rx_irqs_, 1);
}

TEST_F(VirtioNetTest, WithoutMergeableBuffersASmallBufferDropsThePacket) {
  activate(features() & ~bit(kMrgRxbuf));
  const uint16_t small = offer(1000);
  send(packet(1514, 1));
  net_->process_event(0);
  ASSERT_EQ(rx_->used_idx(), 1);
  EXPECT_EQ(rx_->used(0).id, small);
  EXPECT_EQ(rx_->used(0).len, 0u);
  EXPECT_EQ(net_->rx_dropped(), 1u);
  EXPECT_EQ(rx_irqs_, 1);  // the buffer is back: the driver hears of it
  // A buffer as big as the packet gets all of it; so does a chain of
  // several descriptors (one buffer without MRG_RXBUF).
  const auto p = packet(1514, 2), q = packet(1514, 3);
  offer(kHdr + 1514);
  uint8_t *a, *b, *c;
  const uint16_t chained = rx_->chain()
                               .writable(kHdr, &a)
                               .writable(1000, &b)
                               .writable(1000, &c)
                               .build();
  send(p);
  send(q);
  net_->process_event(0);
  ASSERT_EQ(rx_->used_idx(), 3);
  EXPECT_EQ(used_bytes(1, 2), with_buffers(p, 1));
  EXPECT_EQ(rx_->used(2).id, chained);
  EXPECT_EQ(rx_->used(2).len, q.size());
  std::vector<uint8_t> got(a, a + kHdr);
  got.insert(got.end(), b, b + 1000);
  got.insert(got.end(), c, c + 514);
  EXPECT_EQ(got, with_buffers(q, 1));
  EXPECT_EQ(net_->rx_dropped(), 1u);
  EXPECT_EQ(net_->rx_packets(), 2u);
}

TEST_F(VirtioNetTest, ShortMessagesAreDropped) {
  offer(2048);
  send(std::vector<uint8_t>(kHdr - 1, 0));
  const auto p = packet(60, 1);
  send(p);
  net_->process_event(0);
  EXPECT_EQ(net_->rx_dropped(), 1u);
  ASSERT_EQ(rx_->used_idx(), 1);
  EXPECT_EQ(used_bytes(0, 1), with_buffers(p, 1));
}

TEST_F(VirtioNetTest, ReceiveInterruptFollowsTheRingsRules) {
  rx_->set_avail_flags(1);
  offer(2048);
  send(packet(60, 1));
  net_->process_event(0);
  EXPECT_EQ(rx_->used_idx(), 1);
  EXPECT_EQ(rx_irqs_, 0);
  // Nothing to read: nothing used, no interrupt.
  rx_->set_avail_flags(0);
  net_->process_event(0);
  EXPECT_EQ(rx_irqs_, 0);
  // A batch of packets read in one wake-up: one interrupt.
  for (int i = 0; i < 3; ++i) offer(2048);
  for (int i = 0; i < 3; ++i) send(packet(60, static_cast<uint8_t>(i)));
  net_->process_event(0);
  EXPECT_EQ(rx_->used_idx(), 4);
  EXPECT_EQ(rx_irqs_, 1);
}

}  // namespace
}  // namespace vmrun::devices::virtio
