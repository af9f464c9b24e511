// Where virtio_blk_fuzz puts the guest's rings, shared with the program
// that writes its seeds (virtio_blk_seeds.cc). The input is an options
// byte, then guest memory from address 0: the available ring, then the
// descriptor table right after it (so short inputs reach both); the used
// ring, which only the device writes, further on.
#pragma once

#include <cstdint>

namespace vmrun::fuzz_layout {

// Options byte: bit 0 EVENT_IDX, 1 read-only disk, 2 a failing disk, 3 a
// disk that can punch holes, bits 4-6 log2 of the queue size (1..128).
inline constexpr uint8_t kEventIdx = 1, kReadOnly = 2, kFailing = 4, kPunchHoles = 8;
inline constexpr uint16_t queue_size(uint8_t options) {
  return static_cast<uint16_t>(1u << ((options >> 4) & 7));
}
inline constexpr uint64_t kAvailRing = 0;
inline constexpr uint64_t desc_table(uint16_t size) {
  return (6 + 2u * size + 15) & ~uint64_t{15};  // 16-byte aligned
}
inline constexpr uint64_t kUsedRing = 0x1000;  // past both at size 128
inline constexpr uint64_t kGuestBytes = 64 * 1024;

}  // namespace vmrun::fuzz_layout
