#include "devices/virtio/virtqueue.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstring>
#include <string>

#include "vmm/hex.h"

namespace vmrun::devices::virtio {

static_assert(std::endian::native == std::endian::little,
              "virtio 1.x rings are little-endian; this code reads them raw");

namespace {

constexpr uint16_t kDescFNext = 1;
constexpr uint16_t kDescFWrite = 2;
constexpr uint16_t kDescFIndirect = 4;
constexpr uint16_t kAvailFNoInterrupt = 1;
constexpr uint64_t kDescSize = 16;

struct Desc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};
static_assert(sizeof(Desc) == kDescSize);

// One copy of a descriptor: everything is validated on this copy, so a
// guest rewriting the table meanwhile cannot change what was checked.
Desc load_desc(const uint8_t* table, uint32_t index) {
  Desc d;
  std::memcpy(&d, table + index * kDescSize, sizeof d);
  return d;
}

// Ring indexes are shared with the driver running on another CPU: single
// (untorn) accesses, ordered by the explicit fences below. create() checked
// that every index field is 2-aligned in host memory.
uint16_t load16(const uint8_t* p) {
  return __atomic_load_n(reinterpret_cast<const uint16_t*>(p),
                         __ATOMIC_RELAXED);
}
void store16(uint8_t* p, uint16_t v) {
  __atomic_store_n(reinterpret_cast<uint16_t*>(p), v, __ATOMIC_RELAXED);
}

// Ring layout (virtio 1.x, 2.7): avail = flags, idx, ring[size], used_event;
// used = flags, idx, ring[size] of {id, len}, avail_event.
uint64_t avail_bytes(uint16_t size) { return 6 + 2ull * size; }
uint64_t used_bytes(uint16_t size) { return 6 + 8ull * size; }

Result<uint8_t*> ring(const GuestMemory& mem, const char* what, uint64_t gpa,
                      uint64_t len, uint64_t align) {
  if (gpa % align != 0) {
    return Error(std::string(what) + " ring at " + hex(gpa) +
                 " is not aligned to " + std::to_string(align) + " bytes");
  }
  auto span = VMRUN_TRY_CTX(mem.slice(gpa, len), std::string(what) + " ring");
  if (reinterpret_cast<uintptr_t>(span.data()) % align != 0) {
    return Error(std::string(what) + " ring: host mapping misaligned");
  }
  return span.data();
}

}  // namespace

struct Virtqueue::Walk {
  DescriptorChain& chain;
  uint32_t descriptors = 0;
  uint64_t bytes = 0;
  bool seen_writable = false;
};

uint64_t DescriptorChain::readable_bytes() const {
  uint64_t n = 0;
  for (const auto& b : readable_) n += b.len;
  return n;
}

uint64_t DescriptorChain::writable_bytes() const {
  uint64_t n = 0;
  for (const auto& b : writable_) n += b.len;
  return n;
}

namespace {

// Walks `bufs` from byte `offset`, calling fn(host span, position in data)
// for each piece; returns the bytes covered (at most `len`).
template <class Fn>
size_t for_each_piece(const GuestMemory& mem, const std::vector<Buffer>& bufs,
                      uint64_t offset, size_t len, Fn fn) {
  size_t done = 0;
  for (const auto& b : bufs) {
    if (done == len) break;
    if (offset >= b.len) {
      offset -= b.len;
      continue;
    }
    uint64_t n = std::min<uint64_t>(b.len - offset, len - done);
    auto host = mem.slice(b.gpa + offset, n);
    if (!host.ok()) break;  // checked by pop(); unreachable
    fn(host.value(), done);
    done += n;
    offset = 0;
  }
  return done;
}

}  // namespace

size_t DescriptorChain::read(const GuestMemory& mem, uint64_t offset,
                             std::span<uint8_t> out) const {
  return for_each_piece(mem, readable_, offset, out.size(),
                        [&](std::span<uint8_t> host, size_t pos) {
                          std::memcpy(out.data() + pos, host.data(),
                                      host.size());
                        });
}

size_t DescriptorChain::write(const GuestMemory& mem, uint64_t offset,
                              std::span<const uint8_t> in) const {
  return for_each_piece(mem, writable_, offset, in.size(),
                        [&](std::span<uint8_t> host, size_t pos) {
                          std::memcpy(host.data(), in.data() + pos,
                                      host.size());
                        });
}

Result<Virtqueue> Virtqueue::create(const GuestMemory& mem, QueueConfig config,
                                    bool event_idx) {
  if (config.size == 0 || config.size > 32768 ||
      !std::has_single_bit(config.size)) {
    return Error("queue size " + std::to_string(config.size) +
                 " is not a power of two in 1..32768");
  }
  Virtqueue q(mem, config, event_idx);
  // The alignments of virtio 1.x, 2.7.10.
  q.desc_ = VMRUN_TRY(
      ring(mem, "descriptor", config.desc, kDescSize * config.size, 16));
  q.avail_ = VMRUN_TRY(
      ring(mem, "available", config.avail, avail_bytes(config.size), 2));
  q.used_ =
      VMRUN_TRY(ring(mem, "used", config.used, used_bytes(config.size), 4));
  // The queue starts where the driver's fresh rings do: index 0 both ways.
  return q;
}

Result<void> Virtqueue::add_buffer(Walk& walk, uint64_t addr, uint32_t len,
                                   uint16_t flags) const {
  if (++walk.descriptors > kMaxChainDescriptors) {
    return Error("descriptor chain longer than " +
                 std::to_string(kMaxChainDescriptors) + " descriptors");
  }
  walk.bytes += len;  // at most 4096 * 2^32: cannot wrap
  if (walk.bytes > kMaxChainBytes) {
    return Error("descriptor chain longer than " +
                 std::to_string(kMaxChainBytes) + " bytes");
  }
  bool writable = flags & kDescFWrite;
  if (!writable && walk.seen_writable) {
    return Error("readable descriptor after a writable one");
  }
  walk.seen_writable |= writable;
  // A zero-length buffer carries nothing and is never accessed: dropped.
  if (len == 0) return ok();
  VMRUN_TRY_CTX(mem_->slice(addr, len), "descriptor buffer");
  (writable ? walk.chain.writable_ : walk.chain.readable_)
      .push_back({addr, len});
  return ok();
}

Result<void> Virtqueue::walk_indirect(Walk& walk, uint64_t addr,
                                      uint32_t len) const {
  if (len == 0 || len % kDescSize != 0) {
    return Error("indirect table of " + std::to_string(len) +
                 " bytes is not a whole number of descriptors");
  }
  auto table = VMRUN_TRY_CTX(mem_->slice(addr, len), "indirect table");
  const uint32_t count = len / kDescSize;
  uint32_t index = 0;
  // A chain visiting more descriptors than the table holds revisits one.
  for (uint32_t seen = 1;; ++seen) {
    if (seen > count) return Error("indirect descriptor chain loops");
    Desc d = load_desc(table.data(), index);
    if (d.flags & kDescFIndirect) {
      return Error("indirect table holds an indirect descriptor");
    }
    VMRUN_TRY(add_buffer(walk, d.addr, d.len, d.flags));
    if (!(d.flags & kDescFNext)) return ok();
    if (d.next >= count) {
      return Error("indirect descriptor " + std::to_string(index) + ": next " +
                   std::to_string(d.next) + " is past the table (" +
                   std::to_string(count) + " entries)");
    }
    index = d.next;
  }
}

Result<std::optional<DescriptorChain>> Virtqueue::pop() {
  const uint16_t size = config_.size;
  uint8_t* avail_event = used_ + 4 + 8ull * size;
  uint16_t avail_idx = load16(avail_ + 2);
  if (avail_idx == next_avail_) {
    if (!event_idx_) return std::optional<DescriptorChain>();
    // Ask to be notified of the next buffer, then look again: a buffer
    // the driver added before it saw avail_event would otherwise wait.
    store16(avail_event, next_avail_);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    avail_idx = load16(avail_ + 2);
    if (avail_idx == next_avail_) return std::optional<DescriptorChain>();
  }
  const uint16_t pending = static_cast<uint16_t>(avail_idx - next_avail_);
  if (pending > size) {
    return Error("available index " + std::to_string(avail_idx) + " is " +
                 std::to_string(pending) + " entries ahead of the device's " +
                 std::to_string(next_avail_) + " (queue size " +
                 std::to_string(size) + ")");
  }
  // The ring entry and descriptors are read after the index that published
  // them.
  std::atomic_thread_fence(std::memory_order_acquire);
  const uint16_t head = load16(avail_ + 4 + 2u * (next_avail_ & (size - 1)));
  if (head >= size) {
    return Error("available ring offers descriptor " + std::to_string(head) +
                 " of a queue of size " + std::to_string(size));
  }

  DescriptorChain chain;
  chain.head_ = head;
  Walk walk{chain};
  uint16_t index = head;
  // A chain visiting more descriptors than the table holds revisits one.
  for (uint32_t seen = 1;; ++seen) {
    if (seen > size) {
      return Error("descriptor chain from head " + std::to_string(head) +
                   " loops");
    }
    Desc d = load_desc(desc_, index);
    if (d.flags & kDescFIndirect) {
      if (d.flags & kDescFNext) {
        return Error("descriptor " + std::to_string(index) +
                     " is both INDIRECT and NEXT");
      }
      // Its WRITE flag means nothing (2.7.5.3.2): the table's entries say.
      VMRUN_TRY(walk_indirect(walk, d.addr, d.len));
      break;
    }
    VMRUN_TRY(add_buffer(walk, d.addr, d.len, d.flags));
    if (!(d.flags & kDescFNext)) break;
    if (d.next >= size) {
      return Error("descriptor " + std::to_string(index) + ": next " +
                   std::to_string(d.next) + " is past the table (size " +
                   std::to_string(size) + ")");
    }
    index = d.next;
  }

  // avail_event is left where it was: while the device is busy taking
  // buffers the driver need not notify it (each notification is an exit
  // and a wake-up); it is moved up when the device finds the ring empty.
  ++next_avail_;
  return std::optional<DescriptorChain>(std::move(chain));
}

Result<void> Virtqueue::push_used(uint16_t head, uint32_t written) {
  const UsedElem one{head, written};
  return push_used(std::span(&one, 1));
}

Result<void> Virtqueue::push_used(std::span<const UsedElem> elems) {
  for (const auto& e : elems) {
    if (e.head >= config_.size) {
      return Error("used descriptor " + std::to_string(e.head) +
                   " is past the queue (size " + std::to_string(config_.size) + ")");
    }
  }
  uint16_t at = next_used_;
  for (const auto& e : elems) {
    const uint32_t elem[2] = {e.head, e.written};
    std::memcpy(used_ + 4 + 8ull * (at & (config_.size - 1)), elem, sizeof elem);
    ++at;
  }
  // The elements are visible before the index that publishes them, and the
  // index moves once: the driver never sees half of a group.
  std::atomic_thread_fence(std::memory_order_release);
  next_used_ = at;
  store16(used_ + 2, next_used_);
  return ok();
}

bool Virtqueue::should_notify() {
  // Our used index store must be visible before we read the driver's
  // suppression fields, or both sides may decide not to act (2.7.7.2).
  std::atomic_thread_fence(std::memory_order_seq_cst);
  const uint16_t old_used = signalled_used_;
  const uint16_t new_used = next_used_;
  signalled_used_ = new_used;
  if (new_used == old_used) return false;
  if (event_idx_) {
    // vring_need_event(): did we move past used_event since the last time?
    const uint16_t used_event = load16(avail_ + 4 + 2ull * config_.size);
    return static_cast<uint16_t>(new_used - used_event - 1) <
           static_cast<uint16_t>(new_used - old_used);
  }
  return !(load16(avail_) & kAvailFNoInterrupt);
}

}  // namespace vmrun::devices::virtio
