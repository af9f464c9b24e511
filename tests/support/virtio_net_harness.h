// virtio-net driven as the VirtioPci transport drives it (activate with two
// queues, process_queue on a notification, process_event when the packet
// descriptor is readable), over a SOCK_SEQPACKET socketpair standing in for
// the tap: each message is a 12-byte virtio-net header and the frame.
// The fixture base of virtio_net_test.cc and virtio_net_ring_test.cc.
// Header-only.
#pragma once

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "devices/virtio/net.h"
#include "tests/support/virtq_builder.h"

namespace vmrun::test_support {

// The guest memory the harness gives the device, from address 0.
inline constexpr uint64_t kVirtioNetMemory = 16ull << 20;

// `p` as the guest should see it: num_buffers (bytes 10-11) set to `n`.
inline std::vector<uint8_t> with_buffers(std::vector<uint8_t> p, uint16_t n) {
  std::memcpy(&p[10], &n, 2);
  return p;
}

class VirtioNetHarness : public ::testing::Test {
 protected:
  using VirtioNet = devices::virtio::VirtioNet;

  // A device named "net0" with `mac`; the tap's other end is peer_. Its
  // offload calls are recorded in offloads_ and fail while offload_fails_.
  explicit VirtioNetHarness(std::array<uint8_t, 6> mac) {
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
                   fds) != 0) {
      throw std::runtime_error("socketpair");
    }
    device_fd_ = fds[0];
    peer_.reset(fds[1]);
    net_ = std::make_unique<VirtioNet>(
        UniqueFd(fds[0]), mac,
        [this](unsigned flags) -> Result<void> {
          offloads_.push_back(flags);
          if (offload_fails_) return Error("TUNSETOFFLOAD: EINVAL");
          return ok();
        },
        "net0");
  }
  void SetUp() override { activate(features()); }

  // What a modern driver takes by default here: everything but EVENT_IDX
  // (which the interrupt tests ask for explicitly).
  uint64_t features() const {
    return net_->device_features() & ~devices::virtio::kFRingEventIdx;
  }

  // Fresh rings for both queues, then activate() as the transport does.
  void activate(uint64_t features, uint16_t rx_size = 256,
                uint16_t tx_size = 64) {
    using devices::virtio::ActivatedQueue;
    using devices::virtio::Virtqueue;
    rx_ = std::make_unique<DriverQueue>(*mem_, rx_size, 0x10000, 0x100000);
    tx_ = std::make_unique<DriverQueue>(*mem_, tx_size, 0x20000, 0x800000);
    bufs_.clear();
    const bool event_idx = features & devices::virtio::kFRingEventIdx;
    auto rq = Virtqueue::create(*mem_, rx_->config(), event_idx);
    auto tq = Virtqueue::create(*mem_, tx_->config(), event_idx);
    ASSERT_TRUE(rq.ok() && tq.ok());
    std::vector<ActivatedQueue> queues;
    queues.push_back({std::move(rq).value(), [this] { ++rx_irqs_; }, -1});
    queues.push_back({std::move(tq).value(), [this] { ++tx_irqs_; }, -1});
    auto r = net_->activate(*mem_, features, std::move(queues));
    ASSERT_TRUE(r.ok()) << r.error().message();
  }

  // The peer (the tap's other end).
  void send(const std::vector<uint8_t>& p) {
    ASSERT_EQ(::send(peer_.get(), p.data(), p.size(), 0),
              static_cast<ssize_t>(p.size()));
  }
  std::optional<std::vector<uint8_t>> receive() {
    std::vector<uint8_t> buf(VirtioNet::kMaxPacket + 4096);
    ssize_t n = ::recv(peer_.get(), buf.data(), buf.size(), MSG_DONTWAIT);
    if (n < 0) return std::nullopt;
    buf.resize(static_cast<size_t>(n));
    return buf;
  }
  // Whether a packet waits for the peer (left where it is).
  bool peer_has_mail() {
    uint8_t b;
    return ::recv(peer_.get(), &b, 1, MSG_DONTWAIT | MSG_PEEK) >= 0;
  }
  // Whether a packet waits on the device's side of the socketpair.
  bool device_fd_readable() const {
    pollfd p{device_fd_, POLLIN, 0};
    return ::poll(&p, 1, 0) == 1;
  }

  // Offers a receive buffer of `len` bytes; returns its head.
  uint16_t offer(uint32_t len) {
    uint8_t* host;
    uint16_t head = rx_->chain().writable(len, &host).build();
    bufs_[head] = host;
    return head;
  }
  // The bytes the device put in used entries [from, to) of the rx ring.
  std::vector<uint8_t> used_bytes(uint16_t from, uint16_t to) const {
    std::vector<uint8_t> out;
    for (uint16_t i = from; i != to; ++i) {
      auto u = rx_->used(i);
      const uint8_t* p = bufs_.at(static_cast<uint16_t>(u.id));
      out.insert(out.end(), p, p + u.len);
    }
    return out;
  }

  std::unique_ptr<GuestMemory> mem_ =
      GuestMemory::create({{0, kVirtioNetMemory}}).value();
  std::unique_ptr<DriverQueue> rx_, tx_;
  std::map<uint16_t, uint8_t*> bufs_;  // rx head -> host view of its buffer
  int device_fd_ = -1;
  UniqueFd peer_;
  std::unique_ptr<VirtioNet> net_;
  std::vector<unsigned> offloads_;
  bool offload_fails_ = false;
  int rx_irqs_ = 0, tx_irqs_ = 0;
};

}  // namespace vmrun::test_support
