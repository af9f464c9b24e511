// 9P2000.L messages on the wire: little-endian integers, strings as a u16
// length and bytes, qids of 13 bytes. The reader never reads past its
// buffer: a short or malformed message just makes ok() false, and the
// server answers it with an error.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace vmrun::devices::p9 {

// Message types (the T-message; its reply is type + 1).
enum MsgType : uint8_t {
  kRlerror = 7,
  kTstatfs = 8,
  kTlopen = 12,
  kTlcreate = 14,
  kTsymlink = 16,
  kTmknod = 18,
  kTrename = 20,
  kTreadlink = 22,
  kTgetattr = 24,
  kTsetattr = 26,
  kTxattrwalk = 30,
  kTxattrcreate = 32,
  kTreaddir = 40,
  kTfsync = 50,
  kTlock = 52,
  kTgetlock = 54,
  kTlink = 70,
  kTmkdir = 72,
  kTrenameat = 74,
  kTunlinkat = 76,
  kTversion = 100,
  kTauth = 102,
  kTattach = 104,
  kTflush = 108,
  kTwalk = 110,
  kTread = 116,
  kTwrite = 118,
  kTclunk = 120,
  kTremove = 122,
};

constexpr size_t kHeaderSize = 7;  // size[4] type[1] tag[2]
constexpr uint16_t kNoTag = 0xffff;
constexpr uint32_t kNoFid = 0xffffffff;

struct Qid {
  uint8_t type = 0;  // kQidDir, kQidSymlink or 0 (file)
  uint32_t version = 0;
  uint64_t path = 0;
};
constexpr uint8_t kQidDir = 0x80;
constexpr uint8_t kQidSymlink = 0x02;

class Reader {
 public:
  explicit Reader(std::span<const uint8_t> bytes) : bytes_(bytes) {}

  uint8_t u8() { return static_cast<uint8_t>(take(1)); }
  uint16_t u16() { return static_cast<uint16_t>(take(2)); }
  uint32_t u32() { return static_cast<uint32_t>(take(4)); }
  uint64_t u64() { return take(8); }
  std::string str();
  // `n` raw bytes (a Twrite's data); empty and !ok() when short.
  std::span<const uint8_t> bytes(size_t n);

  bool ok() const { return ok_; }
  size_t remaining() const { return bytes_.size() - pos_; }

 private:
  uint64_t take(size_t n);
  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
  bool ok_ = true;
};

class Writer {
 public:
  // Starts a reply of `type` to `tag`; the size is filled in by finish().
  Writer(uint8_t type, uint16_t tag);

  void u8(uint8_t v) { put(v, 1); }
  void u16(uint16_t v) { put(v, 2); }
  void u32(uint32_t v) { put(v, 4); }
  void u64(uint64_t v) { put(v, 8); }
  void str(const std::string& s);
  void qid(const Qid& q);
  void bytes(std::span<const uint8_t> b);
  // Grows the message by n bytes and returns where they go (for reads
  // straight into the reply).
  uint8_t* extend(size_t n);
  void shrink(size_t n) { buf_.resize(buf_.size() - n); }
  size_t size() const { return buf_.size(); }
  // Sets the size field: the message is complete.
  std::vector<uint8_t> finish() &&;

 private:
  void put(uint64_t v, size_t n);
  std::vector<uint8_t> buf_;
};

// Rlerror: the reply to anything that failed.
std::vector<uint8_t> error_reply(uint16_t tag, int err);

}  // namespace vmrun::devices::p9
