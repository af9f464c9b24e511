#include "devices/p9/wire.h"

#include <cstring>

namespace vmrun::devices::p9 {

uint64_t Reader::take(size_t n) {
  if (!ok_ || remaining() < n) {
    ok_ = false;
    return 0;
  }
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(bytes_[pos_ + i]) << (8 * i);
  pos_ += n;
  return v;
}

std::string Reader::str() {
  const uint16_t n = u16();
  auto b = bytes(n);
  return std::string(b.begin(), b.end());
}

std::span<const uint8_t> Reader::bytes(size_t n) {
  if (!ok_ || remaining() < n) {
    ok_ = false;
    return {};
  }
  auto out = bytes_.subspan(pos_, n);
  pos_ += n;
  return out;
}

Writer::Writer(uint8_t type, uint16_t tag) {
  buf_.reserve(64);
  put(0, 4);
  put(type, 1);
  put(tag, 2);
}

void Writer::put(uint64_t v, size_t n) {
  for (size_t i = 0; i < n; ++i) buf_.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

void Writer::str(const std::string& s) {
  // Callers bound their strings (names, link targets) well below 64 KiB.
  const size_t n = std::min<size_t>(s.size(), 0xffff);
  u16(static_cast<uint16_t>(n));
  buf_.insert(buf_.end(), s.begin(), s.begin() + static_cast<std::ptrdiff_t>(n));
}

void Writer::qid(const Qid& q) {
  u8(q.type);
  u32(q.version);
  u64(q.path);
}

void Writer::bytes(std::span<const uint8_t> b) { buf_.insert(buf_.end(), b.begin(), b.end()); }

uint8_t* Writer::extend(size_t n) {
  buf_.resize(buf_.size() + n);
  return buf_.data() + buf_.size() - n;
}

std::vector<uint8_t> Writer::finish() && {
  const uint32_t size = static_cast<uint32_t>(buf_.size());
  std::memcpy(buf_.data(), &size, 4);
  return std::move(buf_);
}

std::vector<uint8_t> error_reply(uint16_t tag, int err) {
  Writer w(kRlerror, tag);
  w.u32(static_cast<uint32_t>(err));
  return std::move(w).finish();
}

}  // namespace vmrun::devices::p9
