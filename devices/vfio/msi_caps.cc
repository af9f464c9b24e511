#include "devices/vfio/msi_caps.h"

#include <algorithm>
#include <cstring>

namespace vmrun::devices::vfio {
namespace {

constexpr uint16_t kMsiEnable = 0x0001;
constexpr uint16_t kMsi64 = 0x0080;
constexpr uint16_t kMsiPerVectorMask = 0x0100;
constexpr uint16_t kMsixEnable = 0x8000;
constexpr uint16_t kMsixFunctionMask = 0x4000;
constexpr uint32_t kMsixEntryMasked = 1;

// Bytes past config space (a capability placed at its very end by a broken
// or hostile device) read as zero.
uint16_t get16(std::span<const uint8_t, 256> raw, size_t at) {
  auto byte = [&raw](size_t i) -> uint16_t { return i < raw.size() ? raw[i] : 0; };
  return static_cast<uint16_t>(byte(at) | byte(at + 1) << 8);
}
uint32_t get32(std::span<const uint8_t, 256> raw, size_t at) {
  return static_cast<uint32_t>(get16(raw, at)) | static_cast<uint32_t>(get16(raw, at + 2)) << 16;
}
bool sane(uint16_t offset, size_t len) {
  return (len == 1 || len == 2 || len == 4) && offset % len == 0;
}

}  // namespace

MsiCap::MsiCap(std::span<const uint8_t, 256> raw, uint8_t at) : at_(at) {
  const uint16_t control = get16(raw, at + 2u);
  is64_ = control & kMsi64;
  per_vector_mask_ = control & kMsiPerVectorMask;
  max_log2_ = std::min<uint8_t>((control >> 1) & 7, 5);  // at most 32 vectors
  length_ = (is64_ ? 16 : 12) + (per_vector_mask_ ? 8 : 0);
  length_ = std::min<size_t>(length_, 256 - at);
  std::copy_n(raw.begin() + at, length_, bytes_.begin());
  // Enable off, one vector: the guest starts from a clean capability.
  bytes_[2] &= static_cast<uint8_t>(~0x71);
  writable_[2] = 0x71;  // enable, Multiple Message Enable
  writable_[4] = 0xfc;  // the address is dword aligned
  std::fill_n(&writable_[5], 3, 0xff);
  const size_t data = is64_ ? 12 : 8;
  if (is64_) std::fill_n(&writable_[8], 4, 0xff);
  std::fill_n(&writable_[data], 2, 0xff);
  if (per_vector_mask_) std::fill_n(&writable_[data + 4], 4, 0xff);  // mask bits
}

uint32_t MsiCap::field(size_t rel, size_t len) const {
  uint32_t v = 0;
  std::memcpy(&v, &bytes_[rel], len);
  return v;
}

uint32_t MsiCap::read(uint16_t offset, size_t len) const {
  if (!sane(offset, len) || offset + len > at_ + length_) return 0xffffffff;
  return field(offset - at_, len);
}

void MsiCap::write(uint16_t offset, size_t len, uint32_t value) {
  if (!sane(offset, len) || offset + len > at_ + length_) return;
  for (size_t i = 0; i < len; ++i) {
    size_t rel = offset - at_ + i;
    uint8_t b = static_cast<uint8_t>(value >> (8 * i));
    bytes_[rel] = static_cast<uint8_t>((bytes_[rel] & ~writable_[rel]) | (b & writable_[rel]));
  }
}

std::vector<MsiVector> MsiCap::vectors() const {
  const uint32_t control = field(2, 2);
  if (!(control & kMsiEnable)) return {};
  const uint32_t log2 = std::min<uint32_t>((control >> 4) & 7, max_log2_);
  const uint32_t n = 1u << log2;
  uint64_t addr = field(4, 4);
  if (is64_) addr |= static_cast<uint64_t>(field(8, 4)) << 32;
  const size_t data_at = is64_ ? 12 : 8;
  const uint32_t data = field(data_at, 2);
  const uint32_t mask = per_vector_mask_ ? field(data_at + 4, 4) : 0;
  std::vector<MsiVector> out;
  for (uint32_t i = 0; i < n; ++i) {
    // Multiple messages: the device puts the vector number in the data's
    // low bits.
    out.push_back({addr, (data & ~(n - 1)) | i, ((mask >> i) & 1) != 0});
  }
  return out;
}

MsixCap::MsixCap(std::span<const uint8_t, 256> raw, uint8_t at) : at_(at) {
  control_ = get16(raw, at + 2u) & ~(kMsixEnable | kMsixFunctionMask);
  const uint32_t table = get32(raw, at + 4u), pba = get32(raw, at + 8u);
  table_bar_ = static_cast<int>(table & 7);
  table_offset_ = table & ~7u;
  pba_bar_ = static_cast<int>(pba & 7);
  pba_offset_ = pba & ~7u;
  table_.assign((control_ & 0x7ff) + 1u, {0, 0, 0, kMsixEntryMasked});
}

uint32_t MsixCap::read(uint16_t offset, size_t len) const {
  if (!sane(offset, len) || offset + len > at_ + 12u) return 0xffffffff;
  std::array<uint8_t, 12> b{};
  b[0] = kCapMsix;  // the next pointer is the caller's
  std::memcpy(&b[2], &control_, 2);
  uint32_t table = static_cast<uint32_t>(table_offset_) | static_cast<uint32_t>(table_bar_);
  uint32_t pba = static_cast<uint32_t>(pba_offset_) | static_cast<uint32_t>(pba_bar_);
  std::memcpy(&b[4], &table, 4);
  std::memcpy(&b[8], &pba, 4);
  uint32_t v = 0;
  std::memcpy(&v, &b[offset - at_], len);
  return v;
}

void MsixCap::write(uint16_t offset, size_t len, uint32_t value) {
  if (!sane(offset, len)) return;
  // Only the control word's top byte (enable, function mask) is writable.
  const uint16_t top = static_cast<uint16_t>(at_ + 3);
  if (offset > top || offset + len <= top) return;
  const uint8_t b = static_cast<uint8_t>(value >> (8 * (top - offset)));
  control_ = static_cast<uint16_t>((control_ & 0x3fff) | ((b & 0xc0) << 8));
}

void MsixCap::table_read(uint64_t offset, std::span<uint8_t> data) const {
  std::fill(data.begin(), data.end(), 0xff);
  if ((data.size() != 4 && data.size() != 8) || offset % data.size() != 0 ||
      offset + data.size() > table_bytes()) {
    return;
  }
  const auto& e = table_[offset / kEntrySize];
  std::memcpy(data.data(), reinterpret_cast<const uint8_t*>(e.data()) + offset % kEntrySize,
              data.size());
}

void MsixCap::table_write(uint64_t offset, std::span<const uint8_t> data) {
  if ((data.size() != 4 && data.size() != 8) || offset % data.size() != 0 ||
      offset + data.size() > table_bytes()) {
    return;
  }
  auto& e = table_[offset / kEntrySize];
  std::memcpy(reinterpret_cast<uint8_t*>(e.data()) + offset % kEntrySize, data.data(),
              data.size());
  e[3] &= kMsixEntryMasked;  // the other control bits are reserved
}

std::vector<MsiVector> MsixCap::vectors() const {
  if (!(control_ & kMsixEnable)) return {};
  const bool all_masked = control_ & kMsixFunctionMask;
  // Only up to the last entry the guest has set up: a device may offer
  // hundreds of vectors and a driver use two, and each costs a GSI.
  size_t used = 1;
  for (size_t i = 0; i < table_.size(); ++i) {
    const auto& e = table_[i];
    if (e[0] || e[1] || !(e[3] & kMsixEntryMasked)) used = i + 1;
  }
  std::vector<MsiVector> out;
  for (size_t i = 0; i < used; ++i) {
    const auto& e = table_[i];
    out.push_back({e[0] | static_cast<uint64_t>(e[1]) << 32, e[2],
                   all_masked || (e[3] & kMsixEntryMasked)});
  }
  return out;
}

}  // namespace vmrun::devices::vfio
