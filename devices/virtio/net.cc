#include "devices/virtio/net.h"

#include <spdlog/spdlog.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "devices/net/tap.h"

namespace vmrun::devices::virtio {
namespace {

constexpr uint64_t bit(unsigned n) { return 1ull << n; }

// linux/virtio_net.h does not compile as C++ with Debian 12's headers (a
// flexible array macro), so the few numbers needed are here.
constexpr unsigned VIRTIO_NET_F_CSUM = 0, VIRTIO_NET_F_GUEST_CSUM = 1,
                   VIRTIO_NET_F_MAC = 5, VIRTIO_NET_F_GUEST_TSO4 = 7,
                   VIRTIO_NET_F_GUEST_TSO6 = 8, VIRTIO_NET_F_GUEST_ECN = 9,
                   VIRTIO_NET_F_HOST_TSO4 = 11, VIRTIO_NET_F_HOST_TSO6 = 12,
                   VIRTIO_NET_F_HOST_ECN = 13, VIRTIO_NET_F_MRG_RXBUF = 15,
                   VIRTIO_NET_F_STATUS = 16;
constexpr uint8_t VIRTIO_NET_S_LINK_UP = 1;
constexpr size_t kBatch = 64;  // packets per wake-up, then let tx run

}  // namespace

VirtioNet::VirtioNet(UniqueFd packets, std::array<uint8_t, 6> mac, SetOffload set_offload,
                     std::string name, std::unique_ptr<net::VhostNet> vhost)
    : vhost_(std::move(vhost)),
      packets_(std::move(packets)),
      mac_(mac),
      set_offload_(std::move(set_offload)),
      name_(std::move(name)) {
  features_ = kFVersion1 | kFRingIndirectDesc | kFRingEventIdx | bit(VIRTIO_NET_F_MAC) |
              bit(VIRTIO_NET_F_STATUS) | bit(VIRTIO_NET_F_MRG_RXBUF) |
              // The guest may hand over unchecksummed and unsegmented
              // frames: the tap (the host's stack) finishes them.
              bit(VIRTIO_NET_F_CSUM) | bit(VIRTIO_NET_F_HOST_TSO4) |
              bit(VIRTIO_NET_F_HOST_TSO6) | bit(VIRTIO_NET_F_HOST_ECN) |
              // ...and may receive them, if the tap is told so.
              bit(VIRTIO_NET_F_GUEST_CSUM) | bit(VIRTIO_NET_F_GUEST_TSO4) |
              bit(VIRTIO_NET_F_GUEST_TSO6) | bit(VIRTIO_NET_F_GUEST_ECN);
  if (vhost_) {
    // Ring layout features are the kernel's to implement: offer only
    // those it has. (Offloads are the tap's, and stay.)
    for (uint64_t f : {kFRingIndirectDesc, kFRingEventIdx, kFVersion1, bit(VIRTIO_NET_F_MRG_RXBUF)}) {
      if (!(vhost_->features() & f)) features_ &= ~f;
    }
  }
}

std::vector<int> VirtioNet::event_fds() const {
  if (vhost_) return {vhost_->call_fd(0), vhost_->call_fd(1)};
  return {packets_.get()};
}

void VirtioNet::read_config(uint64_t offset, std::span<uint8_t> data) {
  // struct virtio_net_config: mac[6], status (link up), max_virtqueue_pairs.
  std::array<uint8_t, 10> config{};
  std::copy(mac_.begin(), mac_.end(), config.begin());
  config[6] = VIRTIO_NET_S_LINK_UP;
  config[8] = 1;
  read_config_bytes(config, offset, data);
}

Result<void> VirtioNet::activate(const GuestMemory& mem, uint64_t features,
                                 std::vector<ActivatedQueue> queues) {
  if (queues.size() != 2) return Error(name_ + ": activated without both queues");
  std::lock_guard lock(mu_);
  mem_ = &mem;
  driver_features_ = features & features_;
  unsigned offload = 0;
  if (driver_features_ & bit(VIRTIO_NET_F_GUEST_CSUM)) {
    offload |= net::kTapCsum;
    if (driver_features_ & bit(VIRTIO_NET_F_GUEST_TSO4)) offload |= net::kTapTso4;
    if (driver_features_ & bit(VIRTIO_NET_F_GUEST_TSO6)) offload |= net::kTapTso6;
    if (driver_features_ & bit(VIRTIO_NET_F_GUEST_ECN)) offload |= net::kTapTsoEcn;
  }
  if (set_offload_) VMRUN_TRY(set_offload_(offload));
  if (vhost_) {
    VMRUN_TRY(vhost_->start(mem, driver_features_,
                            {net::VhostNet::Queue{queues[0].queue.config(), queues[0].notify_fd,
                                                  queues[0].irq_fd},
                             net::VhostNet::Queue{queues[1].queue.config(), queues[1].notify_fd,
                                                  queues[1].irq_fd}},
                            packets_.get()));
  }
  rx_.emplace(std::move(queues[0]));
  tx_.emplace(std::move(queues[1]));
  broken_ = false;
  staged_ = 0;
  held_.clear();
  waiting_for_buffers_ = false;
  return ok();
}

void VirtioNet::reset() {
  std::lock_guard lock(mu_);
  if (vhost_) vhost_->stop();
  rx_.reset();
  tx_.reset();
  mem_ = nullptr;
  held_.clear();
  staged_ = 0;  // a packet for the old rings is lost with them
  waiting_for_buffers_ = false;
  broken_ = false;
}

void VirtioNet::broken_locked(const std::string& what, const Error& e) {
  spdlog::warn("[{}] {}: {}; not used until the driver resets the device", name_, what,
               e.message());
  broken_ = true;
}

bool VirtioNet::event_wanted(size_t) const {
  std::lock_guard lock(mu_);
  if (vhost_) return true;
  return rx_ && !broken_ && !waiting_for_buffers_;
}

void VirtioNet::process_queue(size_t index) {
  std::lock_guard lock(mu_);
  if (!rx_ || broken_) return;
  if (index == 0) {
    waiting_for_buffers_ = false;  // new receive buffers: try again
    receive_locked();
  } else if (index == 1) {
    transmit_locked();
  }
}

void VirtioNet::process_event(size_t index) {
  std::lock_guard lock(mu_);
  if (!rx_ || broken_) return;
  if (vhost_) {
    // The kernel used buffers of queue `index`: the guest's interrupt.
    uint64_t count;
    if (::read(vhost_->call_fd(index), &count, sizeof count) > 0) {
      (index == 0 ? rx_ : tx_)->interrupt();
    }
    return;
  }
  receive_locked();
}

void VirtioNet::receive_locked() {
  bool delivered = false;
  for (size_t i = 0; i < kBatch && !broken_; ++i) {
    if (staged_ == 0) {
      ssize_t n = ::read(packets_.get(), staging_.data(), staging_.size());
      if (n <= 0) break;  // EAGAIN: the tap is empty
      if (static_cast<size_t>(n) < kHeaderBytes) {
        ++rx_dropped_;
        continue;
      }
      staged_ = static_cast<size_t>(n);
    }
    if (!deliver_locked()) {
      waiting_for_buffers_ = !broken_;
      break;
    }
    delivered = true;
  }
  if (delivered && rx_->queue.should_notify()) rx_->interrupt();
}

bool VirtioNet::deliver_locked() {
  Virtqueue& q = rx_->queue;
  const bool mergeable = driver_features_ & bit(VIRTIO_NET_F_MRG_RXBUF);
  // Enough buffers for the whole packet, or wait (those popped are kept).
  uint64_t room = 0;
  for (const auto& c : held_) room += c.writable_bytes();
  while (room < staged_ && (held_.empty() || mergeable) && held_.size() < q.size()) {
    auto next = q.pop();
    if (!next.ok()) {
      broken_locked("receive queue", next.error());
      return false;
    }
    if (!next.value()) return false;  // the guest has offered no more
    if (!next.value()->readable().empty() || next.value()->writable_bytes() == 0) {
      broken_locked("receive queue", Error("a receive buffer the device cannot write"));
      return false;
    }
    room += next.value()->writable_bytes();
    held_.push_back(std::move(*next.value()));
  }
  if (room < staged_) {
    // The packet cannot ever fit: one buffer without mergeable buffers, or
    // the whole ring. Give the buffers back empty and drop the packet.
    std::vector<Virtqueue::UsedElem> back;
    for (const auto& c : held_) back.push_back({c.head(), 0});
    held_.clear();
    staged_ = 0;
    ++rx_dropped_;
    if (auto r = q.push_used(back); !r) broken_locked("receive queue", r.error());
    return true;
  }
  size_t used = 0, offset = 0;
  std::vector<uint32_t> lengths;
  for (; offset < staged_; ++used) {
    const size_t n = std::min<uint64_t>(held_[used].writable_bytes(), staged_ - offset);
    lengths.push_back(static_cast<uint32_t>(n));
    offset += n;
  }
  // num_buffers, the header's last field: how many buffers this packet took.
  const uint16_t buffers = static_cast<uint16_t>(used);
  std::memcpy(&staging_[10], &buffers, 2);
  offset = 0;
  std::vector<Virtqueue::UsedElem> elems;
  for (size_t i = 0; i < used; ++i) {
    held_[i].write(*mem_, 0, std::span(staging_.data() + offset, lengths[i]));
    offset += lengths[i];
    elems.push_back({held_[i].head(), lengths[i]});
  }
  // All buffers of the packet appear to the driver at once.
  if (auto r = q.push_used(elems); !r) {
    broken_locked("receive queue", r.error());
    return false;
  }
  held_.erase(held_.begin(), held_.begin() + static_cast<std::ptrdiff_t>(used));
  staged_ = 0;
  ++rx_packets_;
  return true;
}

void VirtioNet::transmit_locked() {
  Virtqueue& q = tx_->queue;
  std::vector<iovec> iov;
  bool sent = false;
  for (;;) {
    auto next = q.pop();
    if (!next.ok()) {
      broken_locked("transmit queue", next.error());
      break;
    }
    if (!next.value()) break;
    const DescriptorChain& chain = *next.value();
    iov.clear();
    for (const auto& b : chain.readable()) {
      auto host = mem_->slice(b.gpa, b.len);
      if (host.ok()) iov.push_back({host.value().data(), host.value().size()});
    }
    if (chain.readable_bytes() > kHeaderBytes && chain.readable_bytes() <= kMaxPacket &&
        iov.size() <= 1024 && ::writev(packets_.get(), iov.data(), static_cast<int>(iov.size())) > 0) {
      ++tx_packets_;
    }
    // A frame the host refused is dropped, as a NIC would.
    if (auto r = q.push_used(chain.head(), 0); !r) {
      broken_locked("transmit queue", r.error());
      break;
    }
    sent = true;
  }
  if (sent && q.should_notify()) tx_->interrupt();
}

}  // namespace vmrun::devices::virtio
