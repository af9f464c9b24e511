#include "devices/virtio/blk.h"

#include <linux/virtio_blk.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>

namespace vmrun::devices::virtio {
namespace {

constexpr size_t kHeaderBytes = 16;   // struct virtio_blk_outhdr
constexpr size_t kSegmentBytes = 16;  // struct virtio_blk_discard_write_zeroes
constexpr unsigned kLogLimit = 10;    // log lines per kind, per device

struct Header {
  uint32_t type;
  uint32_t ioprio;
  uint64_t sector;
};
static_assert(sizeof(Header) == kHeaderBytes);

struct Segment {
  uint64_t sector;
  uint32_t num_sectors;
  uint32_t flags;
};
static_assert(sizeof(Segment) == kSegmentBytes);

constexpr uint64_t bit(unsigned n) { return 1ull << n; }

// struct virtio_blk_config is packed with a u64 first; offsets, not casts.
template <class T>
void put(std::vector<uint8_t>& config, size_t offset, T value) {
  std::memcpy(config.data() + offset, &value, sizeof value);
}

// The host views of `bufs` from byte `skip` on, at most `limit` bytes.
std::vector<std::span<uint8_t>> spans(const GuestMemory& mem,
                                      const std::vector<Buffer>& bufs,
                                      uint64_t skip, uint64_t limit) {
  std::vector<std::span<uint8_t>> out;
  for (const auto& b : bufs) {
    if (limit == 0) break;
    if (skip >= b.len) {
      skip -= b.len;
      continue;
    }
    uint64_t n = std::min<uint64_t>(b.len - skip, limit);
    auto host = mem.slice(b.gpa + skip, n);
    if (!host.ok()) break;  // checked by pop(); unreachable
    out.push_back(host.value());
    limit -= n;
    skip = 0;
  }
  return out;
}

}  // namespace

VirtioBlk::VirtioBlk(std::unique_ptr<DiskBackend> disk, std::string name,
                     std::string serial)
    : disk_(std::move(disk)),
      name_(std::move(name)),
      serial_(serial.empty() ? "vmrun-" + name_ : std::move(serial)),
      config_(sizeof(virtio_blk_config), 0) {
  features_ = kFVersion1 | kFRingIndirectDesc | kFRingEventIdx |
              bit(VIRTIO_BLK_F_FLUSH) | bit(VIRTIO_BLK_F_BLK_SIZE) |
              bit(VIRTIO_BLK_F_SEG_MAX) | bit(VIRTIO_BLK_F_SIZE_MAX);
  if (disk_->read_only()) {
    features_ |= bit(VIRTIO_BLK_F_RO);
  } else if (disk_->can_punch_holes()) {
    features_ |= bit(VIRTIO_BLK_F_DISCARD) | bit(VIRTIO_BLK_F_WRITE_ZEROES);
  }
  serial_.resize(std::min(serial_.size(), kIdBytes));

  put<uint64_t>(config_, offsetof(virtio_blk_config, capacity),
                disk_->size() / kSectorSize);
  put<uint32_t>(config_, offsetof(virtio_blk_config, size_max), kSizeMax);
  put<uint32_t>(config_, offsetof(virtio_blk_config, seg_max), kSegMax);
  put<uint32_t>(config_, offsetof(virtio_blk_config, blk_size), kSectorSize);
  put<uint16_t>(config_, offsetof(virtio_blk_config, num_queues), 1);
  put<uint32_t>(config_, offsetof(virtio_blk_config, max_discard_sectors),
                kMaxDiscardSectors);
  put<uint32_t>(config_, offsetof(virtio_blk_config, max_discard_seg),
                kMaxDiscardSegments);
  put<uint32_t>(config_, offsetof(virtio_blk_config, discard_sector_alignment),
                kDiscardAlignment);
  put<uint32_t>(config_, offsetof(virtio_blk_config, max_write_zeroes_sectors),
                kMaxDiscardSectors);
  put<uint32_t>(config_, offsetof(virtio_blk_config, max_write_zeroes_seg),
                kMaxDiscardSegments);
  put<uint8_t>(config_, offsetof(virtio_blk_config, write_zeroes_may_unmap), 1);
}

void VirtioBlk::read_config(uint64_t offset, std::span<uint8_t> data) {
  read_config_bytes(config_, offset, data);
}

void VirtioBlk::write_config(uint64_t offset, std::span<const uint8_t> data) {
  // Only `wce` is writable, and only with CONFIG_WCE, which is not offered.
  spdlog::debug("[{}] ignored {}-byte config write at {}", name_, data.size(),
                offset);
}

Result<void> VirtioBlk::activate(const GuestMemory& mem, uint64_t features,
                                 std::vector<ActivatedQueue> queues) {
  if (queues.size() != 1) {
    return Error(name_ + ": activated with " + std::to_string(queues.size()) +
                 " queues, expected 1");
  }
  std::lock_guard lock(mu_);
  mem_ = &mem;
  driver_features_ = features & features_;
  queue_.emplace(std::move(queues[0]));
  broken_ = false;
  return ok();
}

void VirtioBlk::reset() {
  std::lock_guard lock(mu_);
  queue_.reset();
  mem_ = nullptr;
  driver_features_ = 0;
  broken_ = false;
}

void VirtioBlk::process_queue(size_t index) {
  std::lock_guard lock(mu_);
  if (index != 0 || !queue_ || broken_) return;
  Virtqueue& queue = queue_->queue;
  for (;;) {
    auto next = queue.pop();
    if (!next.ok()) {
      spdlog::warn(
          "[{}] request queue: {}; not used until the driver resets "
          "the device",
          name_, next.error().message());
      broken_ = true;
      break;
    }
    if (!next.value()) break;
    const DescriptorChain& chain = *next.value();
    uint32_t written = 0;
    const uint64_t writable = chain.writable_bytes();
    if (writable == 0) {
      bad_request("no writable status byte", 0);
    } else {
      Outcome outcome = handle(chain);
      chain.write(*mem_, writable - 1, std::span(&outcome.status, 1));
      written = outcome.data_written + 1;
    }
    auto pushed = queue.push_used(chain.head(), written);
    if (!pushed.ok()) {
      spdlog::warn("[{}] request queue: {}", name_, pushed.error().message());
      broken_ = true;
      break;
    }
  }
  if (queue.should_notify()) queue_->interrupt();
}

VirtioBlk::Outcome VirtioBlk::handle(const DescriptorChain& chain) {
  if (chain.readable_bytes() < kHeaderBytes) {
    return bad_request(
        "header of " + std::to_string(chain.readable_bytes()) + " bytes",
        VIRTIO_BLK_S_IOERR);
  }
  Header header;
  chain.read(*mem_, 0,
             std::span(reinterpret_cast<uint8_t*>(&header), sizeof header));
  switch (header.type) {
    case VIRTIO_BLK_T_IN:
      return read_request(chain, header.sector);
    case VIRTIO_BLK_T_OUT:
      return write_request(chain, header.sector);
    case VIRTIO_BLK_T_FLUSH:
      if (auto r = disk_->flush(); !r.ok()) return host_error(r.error());
      return {VIRTIO_BLK_S_OK, 0};
    case VIRTIO_BLK_T_GET_ID:
      return get_id(chain);
    case VIRTIO_BLK_T_DISCARD:
    case VIRTIO_BLK_T_WRITE_ZEROES: {
      const bool zeroes = header.type == VIRTIO_BLK_T_WRITE_ZEROES;
      const unsigned feature =
          zeroes ? VIRTIO_BLK_F_WRITE_ZEROES : VIRTIO_BLK_F_DISCARD;
      if (!(driver_features_ & bit(feature))) break;
      return discard_or_zero(chain, zeroes);
    }
    default:
      break;
  }
  return bad_request("unsupported request type " + std::to_string(header.type),
                     VIRTIO_BLK_S_UNSUPP);
}

bool VirtioBlk::in_capacity(uint64_t sector, uint64_t bytes) const {
  const uint64_t capacity = disk_->size() / kSectorSize;
  // Written so that nothing can wrap: sector <= capacity first.
  return sector <= capacity && bytes / kSectorSize <= capacity - sector;
}

VirtioBlk::Outcome VirtioBlk::read_request(const DescriptorChain& chain,
                                           uint64_t sector) {
  if (chain.readable_bytes() != kHeaderBytes) {
    return bad_request("read with readable data", VIRTIO_BLK_S_IOERR);
  }
  const uint64_t bytes = chain.writable_bytes() - 1;
  if (bytes % kSectorSize != 0 || !in_capacity(sector, bytes)) {
    return bad_request("read of " + std::to_string(bytes) +
                           " bytes at sector " + std::to_string(sector),
                       VIRTIO_BLK_S_IOERR);
  }
  auto bufs = spans(*mem_, chain.writable(), 0, bytes);
  auto r = disk_->read_vec(sector * kSectorSize, bufs);
  if (!r.ok()) return host_error(r.error());
  return {VIRTIO_BLK_S_OK, static_cast<uint32_t>(bytes)};
}

VirtioBlk::Outcome VirtioBlk::write_request(const DescriptorChain& chain,
                                            uint64_t sector) {
  if (disk_->read_only()) {
    return bad_request("write to a read-only disk", VIRTIO_BLK_S_IOERR);
  }
  if (chain.writable_bytes() != 1) {
    return bad_request("write with writable data", VIRTIO_BLK_S_IOERR);
  }
  const uint64_t bytes = chain.readable_bytes() - kHeaderBytes;
  if (bytes % kSectorSize != 0 || !in_capacity(sector, bytes)) {
    return bad_request("write of " + std::to_string(bytes) +
                           " bytes at sector " + std::to_string(sector),
                       VIRTIO_BLK_S_IOERR);
  }
  auto writable = spans(*mem_, chain.readable(), kHeaderBytes, bytes);
  std::vector<std::span<const uint8_t>> bufs(writable.begin(), writable.end());
  auto r = disk_->write_vec(sector * kSectorSize, bufs);
  if (!r.ok()) return host_error(r.error());
  return {VIRTIO_BLK_S_OK, 0};
}

VirtioBlk::Outcome VirtioBlk::get_id(const DescriptorChain& chain) {
  // The ID is 20 bytes, NUL-padded when shorter (no NUL when 20 long).
  std::array<uint8_t, kIdBytes> id{};
  std::memcpy(id.data(), serial_.data(), serial_.size());
  const uint64_t room = chain.writable_bytes() - 1;
  const size_t n = std::min<uint64_t>(room, kIdBytes);
  chain.write(*mem_, 0, std::span(id.data(), n));
  return {VIRTIO_BLK_S_OK, static_cast<uint32_t>(n)};
}

VirtioBlk::Outcome VirtioBlk::discard_or_zero(const DescriptorChain& chain,
                                              bool write_zeroes) {
  const char* what = write_zeroes ? "write-zeroes" : "discard";
  if (disk_->read_only()) {
    return bad_request(std::string(what) + " on a read-only disk",
                       VIRTIO_BLK_S_IOERR);
  }
  const uint64_t payload = chain.readable_bytes() - kHeaderBytes;
  if (payload == 0 || payload % kSegmentBytes != 0 ||
      chain.writable_bytes() != 1) {
    return bad_request(std::string(what) + " of " + std::to_string(payload) +
                           " bytes of segments",
                       VIRTIO_BLK_S_IOERR);
  }
  if (payload / kSegmentBytes > kMaxDiscardSegments) {
    return bad_request(std::string(what) + " of " +
                           std::to_string(payload / kSegmentBytes) +
                           " segments",
                       VIRTIO_BLK_S_UNSUPP);
  }
  std::vector<Segment> segments(payload / kSegmentBytes);
  chain.read(*mem_, kHeaderBytes,
             std::span(reinterpret_cast<uint8_t*>(segments.data()), payload));
  // All checked before any is applied: a bad request changes nothing.
  const uint32_t allowed_flags =
      write_zeroes ? VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP : 0;
  for (const auto& s : segments) {
    if (s.flags & ~allowed_flags) {
      return bad_request(
          std::string(what) + " with flags " + std::to_string(s.flags),
          VIRTIO_BLK_S_UNSUPP);
    }
    if (s.num_sectors > kMaxDiscardSectors ||
        !in_capacity(s.sector, uint64_t{s.num_sectors} * kSectorSize)) {
      return bad_request(std::string(what) + " of " +
                             std::to_string(s.num_sectors) +
                             " sectors at sector " + std::to_string(s.sector),
                         VIRTIO_BLK_S_IOERR);
    }
  }
  for (const auto& s : segments) {
    const uint64_t offset = s.sector * kSectorSize;
    const uint64_t len = uint64_t{s.num_sectors} * kSectorSize;
    // A discarded range reads as zeros on every backend (disk.h), which is
    // what write-zeroes with UNMAP asks for.
    auto r = write_zeroes && !(s.flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP)
                 ? disk_->write_zeroes(offset, len)
                 : disk_->discard(offset, len);
    if (!r.ok()) return host_error(r.error());
  }
  return {VIRTIO_BLK_S_OK, 0};
}

VirtioBlk::Outcome VirtioBlk::bad_request(const std::string& why,
                                          uint8_t status) {
  // The guest's mistakes: debug level, and only the first few.
  if (bad_requests_logged_ < kLogLimit) {
    ++bad_requests_logged_;
    spdlog::debug("[{}] bad request: {}{}", name_, why,
                  bad_requests_logged_ == kLogLimit ? " (no more logged)" : "");
  }
  return {status, 0};
}

VirtioBlk::Outcome VirtioBlk::host_error(const Error& error) {
  if (host_errors_logged_ < kLogLimit) {
    ++host_errors_logged_;
    spdlog::warn("[{}] {}{}", name_, error.message(),
                 host_errors_logged_ == kLogLimit ? " (no more logged)" : "");
  }
  return {VIRTIO_BLK_S_IOERR, 0};
}

}  // namespace vmrun::devices::virtio
