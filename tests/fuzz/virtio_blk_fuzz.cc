// libFuzzer: a hostile driver of virtio-blk. The input is the guest's
// memory (tests/fuzz/virtio_blk_layout.h): available ring, descriptor
// table, request headers, discard segments and buffers are all its bytes,
// so the fuzzer writes chains (direct, indirect, looping, out of range,
// writable buffers over the rings themselves) and requests of every type.
// Its first byte picks the queue size, EVENT_IDX and how the disk behaves.
// CI starts it from the seeds virtio_blk_seeds.cc writes.
//
// Beyond ASan/UBSan (nothing outside guest memory or the disk is touched)
// and libFuzzer's timeout (no unbounded loop), it aborts when the device
// asks the disk for anything past its sector-rounded capacity or to change
// a read-only disk (MemoryDisk::strict), when the disk's size changed, or
// when the device raised more than one interrupt per notification.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <utility>
#include <vector>

#include "devices/virtio/blk.h"
#include "tests/fuzz/virtio_blk_layout.h"
#include "tests/support/memory_disk.h"

namespace {

using vmrun::GuestMemory;
using vmrun::devices::virtio::ActivatedQueue;
using vmrun::devices::virtio::QueueConfig;
using vmrun::devices::virtio::VirtioBlk;
using vmrun::devices::virtio::Virtqueue;
using vmrun::test_support::MemoryDisk;

namespace L = vmrun::fuzz_layout;
// Not a whole number of sectors: the device rounds down.
constexpr size_t kDiskBytes = 32 * 1024 + 100;

std::vector<uint8_t> pattern() {
  std::vector<uint8_t> v(kDiskBytes);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<uint8_t>(i * 7 + i / 512);
  return v;
}

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);  // a broken queue's warning per input
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<uint8_t> initial = pattern();
  if (size == 0) return 0;
  const uint8_t options = data[0];
  const bool event_idx = options & L::kEventIdx, read_only = options & L::kReadOnly,
             failing = options & L::kFailing, punch_holes = options & L::kPunchHoles;
  QueueConfig rings;
  rings.size = L::queue_size(options);
  rings.avail = L::kAvailRing;
  rings.desc = L::desc_table(rings.size);
  rings.used = L::kUsedRing;

  auto mem = GuestMemory::create({{0, L::kGuestBytes}});
  check(mem.ok());
  GuestMemory& guest = *mem.value();
  const size_t n = std::min<size_t>(size - 1, L::kGuestBytes);
  check(guest.write(0, {data + 1, n}).ok());

  auto owned = std::make_unique<MemoryDisk>(kDiskBytes, read_only, punch_holes);
  MemoryDisk& disk = *owned;
  disk.data = initial;
  disk.fail = failing;
  disk.strict = true;
  VirtioBlk blk(std::move(owned), "blk0", "fuzz-serial");

  auto queue = Virtqueue::create(guest, rings, event_idx);
  check(queue.ok());  // the fixed rings are valid for every size picked
  int interrupts = 0;
  std::vector<ActivatedQueue> queues;
  queues.push_back({std::move(queue).value(), [&] { ++interrupts; }});
  check(blk.activate(guest, blk.device_features(), std::move(queues)).ok());

  // Two notifications: the second finds what the first left (nothing new,
  // or a ring the device's own writes changed, or a broken queue).
  blk.process_queue(0);
  blk.process_queue(0);
  check(interrupts <= 2);
  check(disk.data.size() == kDiskBytes);
  return 0;
}
