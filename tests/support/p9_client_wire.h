// The wire side of the 9P2000.L test client (p9_client.h): message numbers
// and flags, the structures replies are parsed into, a T-message builder
// and a reply parser, all little-endian and written independently of the
// server's own codec. Header-only, no GoogleTest.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vmrun::test_support {

// 9P2000.L message numbers (T; the R is T + 1).
enum : uint8_t {
  kP9Rlerror = 7,
  kP9Tstatfs = 8,
  kP9Tlopen = 12,
  kP9Tlcreate = 14,
  kP9Tsymlink = 16,
  kP9Tmknod = 18,
  kP9Trename = 20,
  kP9Treadlink = 22,
  kP9Tgetattr = 24,
  kP9Tsetattr = 26,
  kP9Txattrwalk = 30,
  kP9Txattrcreate = 32,
  kP9Treaddir = 40,
  kP9Tfsync = 50,
  kP9Tlock = 52,
  kP9Tgetlock = 54,
  kP9Tlink = 70,
  kP9Tmkdir = 72,
  kP9Trenameat = 74,
  kP9Tunlinkat = 76,
  kP9Tversion = 100,
  kP9Tauth = 102,
  kP9Tattach = 104,
  kP9Tflush = 108,
  kP9Twalk = 110,
  kP9Tread = 116,
  kP9Twrite = 118,
  kP9Tclunk = 120,
  kP9Tremove = 122,
};

// Tsetattr's valid bits and Tunlinkat's flag, as Linux's v9fs sends them.
constexpr uint32_t kP9SetMode = 0x1, kP9SetUid = 0x2, kP9SetGid = 0x4,
                   kP9SetSize = 0x8, kP9SetAtime = 0x10, kP9SetMtime = 0x20,
                   kP9SetCtime = 0x40, kP9SetAtimeSet = 0x80,
                   kP9SetMtimeSet = 0x100;
constexpr uint32_t kP9AtRemoveDir = 0x200;
constexpr uint64_t kP9GetattrBasic = 0x7ff;
// Linux's O_LARGEFILE as the guest kernel sends it (glibc's is 0 on x86-64).
constexpr uint32_t kP9LargeFile = 0100000;
// Tlock/Tgetlock types and Rlock status.
constexpr uint8_t kP9RdLck = 0, kP9WrLck = 1, kP9UnLck = 2;
constexpr uint8_t kP9LockSuccess = 0, kP9LockBlocked = 1, kP9LockError = 2;

struct P9Qid {
  uint8_t type = 0;
  uint32_t version = 0;
  uint64_t path = 0;
  bool operator==(const P9Qid&) const = default;
};

struct P9Attr {
  uint64_t valid = 0;
  P9Qid qid;
  uint32_t mode = 0, uid = 0, gid = 0;
  uint64_t nlink = 0, rdev = 0, size = 0, blksize = 0, blocks = 0;
  uint64_t atime_sec = 0, atime_nsec = 0, mtime_sec = 0, mtime_nsec = 0;
  uint64_t ctime_sec = 0, ctime_nsec = 0;
};

struct P9SetAttr {
  uint32_t valid = 0, mode = 0, uid = 0, gid = 0;
  uint64_t size = 0, atime_sec = 0, atime_nsec = 0, mtime_sec = 0,
           mtime_nsec = 0;
};

struct P9StatFs {
  uint32_t type = 0, bsize = 0;
  uint64_t blocks = 0, bfree = 0, bavail = 0, files = 0, ffree = 0, fsid = 0;
  uint32_t namelen = 0;
};

struct P9DirEntry {
  P9Qid qid;
  uint64_t offset = 0;
  uint8_t type = 0;
  std::string name;
};

struct P9Lock {
  uint8_t type = 0;
  uint64_t start = 0, length = 0;
  uint32_t proc_id = 0;
  std::string client_id;
};

// One T-message; done() fills in the size field.
class P9Msg {
 public:
  explicit P9Msg(uint8_t type, uint16_t tag = 1) {
    u32(0);
    u8(type);
    u16(tag);
  }
  P9Msg& u8(uint8_t v) { return le(v, 1); }
  P9Msg& u16(uint16_t v) { return le(v, 2); }
  P9Msg& u32(uint32_t v) { return le(v, 4); }
  P9Msg& u64(uint64_t v) { return le(v, 8); }
  P9Msg& str(std::string_view s) {
    u16(static_cast<uint16_t>(s.size()));
    return raw(s);
  }
  P9Msg& raw(std::string_view s) {
    b_.insert(b_.end(), s.begin(), s.end());
    return *this;
  }
  std::vector<uint8_t> done() const {
    std::vector<uint8_t> out = b_;
    const uint32_t n = static_cast<uint32_t>(out.size());
    for (int i = 0; i < 4; ++i) out[i] = static_cast<uint8_t>(n >> (8 * i));
    return out;
  }

 private:
  P9Msg& le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i)
      b_.push_back(static_cast<uint8_t>(v >> (8 * i)));
    return *this;
  }
  std::vector<uint8_t> b_;
};

// Reads a reply's body; any short field makes ok() false.
class P9Parser {
 public:
  explicit P9Parser(std::span<const uint8_t> b, size_t pos = 7)
      : b_(b), pos_(pos) {}
  uint8_t u8() { return static_cast<uint8_t>(le(1)); }
  uint16_t u16() { return static_cast<uint16_t>(le(2)); }
  uint32_t u32() { return static_cast<uint32_t>(le(4)); }
  uint64_t u64() { return le(8); }
  std::string bytes(size_t n) {
    if (!ok_ || b_.size() - pos_ < n) {
      ok_ = false;
      return {};
    }
    std::string s(b_.begin() + static_cast<std::ptrdiff_t>(pos_),
                  b_.begin() + static_cast<std::ptrdiff_t>(pos_ + n));
    pos_ += n;
    return s;
  }
  std::string str() { return bytes(u16()); }
  P9Qid qid() {
    P9Qid q;
    q.type = u8();
    q.version = u32();
    q.path = u64();
    return q;
  }
  bool ok() const { return ok_; }
  bool done() const { return ok_ && pos_ == b_.size(); }

 private:
  uint64_t le(size_t n) {
    if (!ok_ || b_.size() - pos_ < n) {
      ok_ = false;
      return 0;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i)
      v |= static_cast<uint64_t>(b_[pos_ + i]) << (8 * i);
    pos_ += n;
    return v;
  }
  std::span<const uint8_t> b_;
  size_t pos_;
  bool ok_ = true;
};

}  // namespace vmrun::test_support
