#include "devices/virtio/p9.h"

#include <spdlog/spdlog.h>
#include <sys/uio.h>

#include <cstring>

namespace vmrun::devices::virtio {
namespace {

constexpr uint64_t kFMountTag = 1;  // VIRTIO_9P_MOUNT_TAG

}  // namespace

Virtio9p::Virtio9p(std::unique_ptr<p9::Server> server, std::string tag)
    : server_(std::move(server)), tag_(std::move(tag)) {
  const uint16_t len = static_cast<uint16_t>(std::min(tag_.size(), kMaxTagBytes));
  config_.assign(2 + len, 0);
  config_[0] = static_cast<uint8_t>(len);
  config_[1] = static_cast<uint8_t>(len >> 8);
  for (size_t i = 0; i < len; ++i) config_[2 + i] = static_cast<uint8_t>(tag_[i]);
}

uint64_t Virtio9p::device_features() const {
  return kFVersion1 | kFRingIndirectDesc | kFRingEventIdx | kFMountTag;
}

void Virtio9p::read_config(uint64_t offset, std::span<uint8_t> data) {
  read_config_bytes(config_, offset, data);
}

Result<void> Virtio9p::activate(const GuestMemory& mem, uint64_t,
                                std::vector<ActivatedQueue> queues) {
  if (queues.size() != 1) return Error("9p " + tag_ + ": activated without its queue");
  std::lock_guard lock(mu_);
  mem_ = &mem;
  queue_.emplace(std::move(queues[0]));
  broken_ = false;
  return ok();
}

void Virtio9p::reset() {
  std::lock_guard lock(mu_);
  queue_.reset();
  mem_ = nullptr;
  broken_ = false;
}

void Virtio9p::process_queue(size_t index) {
  std::lock_guard lock(mu_);
  if (index != 0 || !queue_ || broken_) return;
  Virtqueue& queue = queue_->queue;
  for (;;) {
    auto next = queue.pop();
    if (!next.ok()) {
      spdlog::warn("[9p {}] queue: {}; not used until the driver resets the device", tag_,
                   next.error().message());
      broken_ = true;
      break;
    }
    if (!next.value()) break;
    const DescriptorChain& chain = *next.value();
    std::optional<uint32_t> direct = serve_io(chain);
    if (direct) {
      if (auto pushed = queue.push_used(chain.head(), *direct); !pushed.ok()) {
        spdlog::warn("[9p {}] queue: {}", tag_, pushed.error().message());
        broken_ = true;
        break;
      }
      if (queue.should_notify()) queue_->interrupt();
      continue;
    }
    // A request larger than the largest msize is cut; the server then sees
    // a size field that does not match and answers EINVAL.
    const size_t len = std::min<uint64_t>(chain.readable_bytes(), p9::Server::kMaxMsize);
    request_.resize(len);
    chain.read(*mem_, 0, request_);
    const uint64_t room = chain.writable_bytes();
    uint32_t written = 0;
    if (room > 0) {
      auto reply = server_->handle(request_, room);
      written = static_cast<uint32_t>(chain.write(*mem_, 0, reply));
    }
    if (auto pushed = queue.push_used(chain.head(), written); !pushed.ok()) {
      spdlog::warn("[9p {}] queue: {}", tag_, pushed.error().message());
      broken_ = true;
      break;
    }
    // Replies can take a while (a big read): let the guest see each one.
    if (queue.should_notify()) queue_->interrupt();
  }
}

// Host views of `bufs` from byte `skip` on (ranges were checked by pop()).
static std::vector<iovec> views(const GuestMemory& mem, const std::vector<Buffer>& bufs,
                                uint64_t skip) {
  std::vector<iovec> out;
  for (const auto& b : bufs) {
    if (skip >= b.len) {
      skip -= b.len;
      continue;
    }
    auto host = mem.slice(b.gpa + skip, b.len - skip);
    if (!host.ok()) break;
    out.push_back({host.value().data(), host.value().size()});
    skip = 0;
  }
  return out;
}

// Reads and writes are most of the traffic: their data moves between the
// file and guest memory directly (preadv/pwritev) instead of through a
// copy of the whole message. Returns the bytes written to the driver, or
// nothing when the request is not a well-formed Tread/Twrite (the general
// path then answers it).
std::optional<uint32_t> Virtio9p::serve_io(const DescriptorChain& chain) {
  constexpr size_t kHead = 23, kReplyHead = 11;
  uint8_t head[kHead];
  if (chain.readable_bytes() < kHead || chain.writable_bytes() < kReplyHead ||
      chain.read(*mem_, 0, head) != kHead) {
    return std::nullopt;
  }
  uint32_t size, count;
  std::memcpy(&size, head, 4);
  std::memcpy(&count, head + 19, 4);
  const uint8_t type = head[4];
  std::vector<uint8_t> reply;
  if (type == p9::kTread && size == kHead) {
    reply = server_->handle_io(head, views(*mem_, chain.writable(), kReplyHead));
  } else if (type == p9::kTwrite && size == kHead + uint64_t{count} &&
             chain.readable_bytes() == size) {
    reply = server_->handle_io(head, views(*mem_, chain.readable(), kHead));
  } else {
    return std::nullopt;
  }
  chain.write(*mem_, 0, reply);
  uint32_t written = static_cast<uint32_t>(reply.size());
  if (type == p9::kTread && reply.size() == kReplyHead && reply[4] == p9::kTread + 1) {
    std::memcpy(&written, reply.data(), 4);  // header and data
  }
  return written;
}

}  // namespace vmrun::devices::virtio
