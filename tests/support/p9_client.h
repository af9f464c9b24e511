// The client's side of 9P2000.L for tests of devices/p9: builds T-messages
// byte by byte (independently of the server's own codec), sends them to a
// p9::Server and parses the replies. Header-only, no GoogleTest, so the
// fuzzer can use it too.
//
//   P9Share s;                          // tmp/share (served), tmp/outside
//   s.c.walk(P9Share::kRoot, 1, {"dir", "file"});
//   s.c.lopen(1, O_RDONLY);
//   std::string data;
//   s.c.read(1, 0, 4096, &data);
//
// Every call returns 0 on success, the errno of an Rlerror, or kBadReply
// when the reply is malformed (wrong size field, tag or type, short body).
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "devices/p9/server.h"
#include "tests/support/temp_dir.h"

namespace vmrun::test_support {

constexpr int kBadReply = -1;

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

// Inside P9Client: sends `m` with a fresh tag (Tversion keeps its NOTAG)
// and checks the reply's framing. Yields a parser on the body of R<type>;
// otherwise returns the errno (Rlerror) or kBadReply from the caller.
#define VMRUN_P9_CALL(m, type, tag)                                  \
  ({                                                                 \
    int vmrun_p9_err_ = 0;                                           \
    P9Parser vmrun_p9_p_ = call((m), (type), (tag), &vmrun_p9_err_); \
    if (vmrun_p9_err_ != 0) return vmrun_p9_err_;                    \
    vmrun_p9_p_;                                                     \
  })

class P9Client {
 public:
  explicit P9Client(devices::p9::Server& server) : server_(server) {}

  // The room given for each reply (a virtio chain's writable bytes).
  size_t max_reply = 1 << 20;
  // The last reply, whatever it was.
  std::vector<uint8_t> last;

  std::vector<uint8_t> raw(std::span<const uint8_t> msg) {
    last = server_.handle(msg, max_reply);
    return last;
  }

  // Message builders, for tests that send them raw or cut.
  static P9Msg version_msg(uint32_t msize, std::string_view v) {
    return std::move(P9Msg(kP9Tversion, 0xffff).u32(msize).str(v));
  }
  static P9Msg attach_msg(uint32_t fid) {
    return std::move(
        P9Msg(kP9Tattach).u32(fid).u32(0xffffffff).str("root").str("").u32(0));
  }
  static P9Msg walk_msg(uint32_t fid, uint32_t newfid,
                        const std::vector<std::string>& names) {
    P9Msg m(kP9Twalk);
    m.u32(fid).u32(newfid).u16(static_cast<uint16_t>(names.size()));
    for (const auto& n : names) m.str(n);
    return m;
  }

  int version(uint32_t msize, std::string_view v, uint32_t* msize_out = nullptr,
              std::string* v_out = nullptr) {
    auto m = version_msg(msize, v);
    P9Parser p = VMRUN_P9_CALL(m, kP9Tversion, 0xffff);
    const uint32_t got = p.u32();
    std::string s = p.str();
    if (!p.done()) return kBadReply;
    if (msize_out) *msize_out = got;
    if (v_out) *v_out = s;
    return 0;
  }
  int attach(uint32_t fid, P9Qid* q = nullptr) {
    return qid_reply(attach_msg(fid), kP9Tattach, q, false);
  }
  int walk(uint32_t fid, uint32_t newfid, const std::vector<std::string>& names,
           std::vector<P9Qid>* qids = nullptr) {
    P9Parser p = VMRUN_P9_CALL(walk_msg(fid, newfid, names), kP9Twalk, tag_);
    std::vector<P9Qid> out(p.u16());
    for (auto& q : out) q = p.qid();
    if (!p.done()) return kBadReply;
    if (qids) *qids = out;
    return 0;
  }
  int lopen(uint32_t fid, uint32_t flags, P9Qid* q = nullptr) {
    return qid_reply(std::move(P9Msg(kP9Tlopen).u32(fid).u32(flags)), kP9Tlopen,
                     q, true);
  }
  int lcreate(uint32_t fid, std::string_view name, uint32_t flags,
              uint32_t mode, P9Qid* q = nullptr) {
    P9Msg m(kP9Tlcreate);
    m.u32(fid).str(name).u32(flags).u32(mode).u32(0);
    return qid_reply(std::move(m), kP9Tlcreate, q, true);
  }
  int read(uint32_t fid, uint64_t offset, uint32_t count, std::string* data) {
    P9Parser p = VMRUN_P9_CALL(P9Msg(kP9Tread).u32(fid).u64(offset).u32(count),
                               kP9Tread, tag_);
    std::string d = p.bytes(p.u32());
    if (!p.done()) return kBadReply;
    if (data) *data = d;
    return 0;
  }
  int write(uint32_t fid, uint64_t offset, std::string_view data,
            uint32_t* written = nullptr) {
    P9Msg m(kP9Twrite);
    m.u32(fid).u64(offset).u32(static_cast<uint32_t>(data.size())).raw(data);
    P9Parser p = VMRUN_P9_CALL(m, kP9Twrite, tag_);
    const uint32_t n = p.u32();
    if (!p.done()) return kBadReply;
    if (written) *written = n;
    return 0;
  }
  int clunk(uint32_t fid) {
    return empty_reply(std::move(P9Msg(kP9Tclunk).u32(fid)), kP9Tclunk);
  }
  int remove(uint32_t fid) {
    return empty_reply(std::move(P9Msg(kP9Tremove).u32(fid)), kP9Tremove);
  }
  int getattr(uint32_t fid, P9Attr* a) {
    P9Parser p = VMRUN_P9_CALL(P9Msg(kP9Tgetattr).u32(fid).u64(kP9GetattrBasic),
                               kP9Tgetattr, tag_);
    P9Attr r;
    r.valid = p.u64();
    r.qid = p.qid();
    r.mode = p.u32();
    r.uid = p.u32();
    r.gid = p.u32();
    r.nlink = p.u64();
    r.rdev = p.u64();
    r.size = p.u64();
    r.blksize = p.u64();
    r.blocks = p.u64();
    r.atime_sec = p.u64();
    r.atime_nsec = p.u64();
    r.mtime_sec = p.u64();
    r.mtime_nsec = p.u64();
    r.ctime_sec = p.u64();
    r.ctime_nsec = p.u64();
    for (int i = 0; i < 4; ++i) p.u64();  // btime, gen, data_version
    if (!p.done()) return kBadReply;
    if (a) *a = r;
    return 0;
  }
  static P9Msg setattr_msg(uint32_t fid, const P9SetAttr& s, uint16_t tag = 1) {
    P9Msg m(kP9Tsetattr, tag);
    m.u32(fid).u32(s.valid).u32(s.mode).u32(s.uid).u32(s.gid).u64(s.size);
    m.u64(s.atime_sec).u64(s.atime_nsec).u64(s.mtime_sec).u64(s.mtime_nsec);
    return m;
  }
  int setattr(uint32_t fid, const P9SetAttr& s) {
    return empty_reply(setattr_msg(fid, s), kP9Tsetattr);
  }
  int statfs(uint32_t fid, P9StatFs* out) {
    P9Parser p = VMRUN_P9_CALL(P9Msg(kP9Tstatfs).u32(fid), kP9Tstatfs, tag_);
    P9StatFs s;
    s.type = p.u32();
    s.bsize = p.u32();
    s.blocks = p.u64();
    s.bfree = p.u64();
    s.bavail = p.u64();
    s.files = p.u64();
    s.ffree = p.u64();
    s.fsid = p.u64();
    s.namelen = p.u32();
    if (!p.done()) return kBadReply;
    if (out) *out = s;
    return 0;
  }
  int readlink(uint32_t fid, std::string* target) {
    P9Parser p =
        VMRUN_P9_CALL(P9Msg(kP9Treadlink).u32(fid), kP9Treadlink, tag_);
    std::string t = p.str();
    if (!p.done()) return kBadReply;
    if (target) *target = t;
    return 0;
  }
  // The entries of one Rreaddir, appended to *out; *bytes gets its count.
  int readdir(uint32_t fid, uint64_t offset, uint32_t count,
              std::vector<P9DirEntry>* out, uint32_t* bytes = nullptr) {
    P9Parser p = VMRUN_P9_CALL(
        P9Msg(kP9Treaddir).u32(fid).u64(offset).u32(count), kP9Treaddir, tag_);
    const uint32_t n = p.u32();
    std::string data = p.bytes(n);
    if (!p.done()) return kBadReply;
    std::vector<uint8_t> d(data.begin(), data.end());
    P9Parser e(d, 0);
    while (e.ok() && !e.done()) {
      P9DirEntry de;
      de.qid = e.qid();
      de.offset = e.u64();
      de.type = e.u8();
      de.name = e.str();
      if (!e.ok()) return kBadReply;
      if (out) out->push_back(de);
    }
    if (bytes) *bytes = n;
    return 0;
  }
  int mkdir(uint32_t dfid, std::string_view name, uint32_t mode,
            P9Qid* q = nullptr) {
    P9Msg m(kP9Tmkdir);
    m.u32(dfid).str(name).u32(mode).u32(0);
    return qid_reply(std::move(m), kP9Tmkdir, q, false);
  }
  int symlink(uint32_t dfid, std::string_view name, std::string_view target,
              P9Qid* q = nullptr) {
    P9Msg m(kP9Tsymlink);
    m.u32(dfid).str(name).str(target).u32(0);
    return qid_reply(std::move(m), kP9Tsymlink, q, false);
  }
  int mknod(uint32_t dfid, std::string_view name, uint32_t mode, uint32_t major,
            uint32_t minor, P9Qid* q = nullptr) {
    P9Msg m(kP9Tmknod);
    m.u32(dfid).str(name).u32(mode).u32(major).u32(minor).u32(0);
    return qid_reply(std::move(m), kP9Tmknod, q, false);
  }
  int link(uint32_t dfid, uint32_t fid, std::string_view name) {
    return empty_reply(std::move(P9Msg(kP9Tlink).u32(dfid).u32(fid).str(name)),
                       kP9Tlink);
  }
  int rename(uint32_t fid, uint32_t dfid, std::string_view name) {
    return empty_reply(
        std::move(P9Msg(kP9Trename).u32(fid).u32(dfid).str(name)), kP9Trename);
  }
  int renameat(uint32_t olddir, std::string_view oldname, uint32_t newdir,
               std::string_view newname) {
    P9Msg m(kP9Trenameat);
    m.u32(olddir).str(oldname).u32(newdir).str(newname);
    return empty_reply(std::move(m), kP9Trenameat);
  }
  int unlinkat(uint32_t dfid, std::string_view name, uint32_t flags) {
    return empty_reply(
        std::move(P9Msg(kP9Tunlinkat).u32(dfid).str(name).u32(flags)),
        kP9Tunlinkat);
  }
  int fsync(uint32_t fid, uint32_t datasync = 0) {
    return empty_reply(std::move(P9Msg(kP9Tfsync).u32(fid).u32(datasync)),
                       kP9Tfsync);
  }
  int lock(uint32_t fid, uint8_t type, uint64_t start, uint64_t length,
           uint8_t* status) {
    P9Msg m(kP9Tlock);
    m.u32(fid).u8(type).u32(0).u64(start).u64(length).u32(42).str("guest");
    P9Parser p = VMRUN_P9_CALL(m, kP9Tlock, tag_);
    const uint8_t s = p.u8();
    if (!p.done()) return kBadReply;
    if (status) *status = s;
    return 0;
  }
  int getlock(uint32_t fid, uint8_t type, uint64_t start, uint64_t length,
              P9Lock* out) {
    P9Msg m(kP9Tgetlock);
    m.u32(fid).u8(type).u64(start).u64(length).u32(43).str("guest");
    P9Parser p = VMRUN_P9_CALL(m, kP9Tgetlock, tag_);
    P9Lock l;
    l.type = p.u8();
    l.start = p.u64();
    l.length = p.u64();
    l.proc_id = p.u32();
    l.client_id = p.str();
    if (!p.done()) return kBadReply;
    if (out) *out = l;
    return 0;
  }
  int xattrwalk(uint32_t fid, uint32_t newfid, std::string_view name) {
    P9Parser p =
        VMRUN_P9_CALL(P9Msg(kP9Txattrwalk).u32(fid).u32(newfid).str(name),
                      kP9Txattrwalk, tag_);
    p.u64();
    return p.done() ? 0 : kBadReply;
  }
  int flush(uint16_t oldtag) {
    return empty_reply(std::move(P9Msg(kP9Tflush).u16(oldtag)), kP9Tflush);
  }

 private:
  P9Parser call(P9Msg m, uint8_t type, uint16_t tag, int* err) {
    if (tag != 0xffff) tag = ++tag_ == 0xffff ? ++tag_ : tag_;
    std::vector<uint8_t> bytes = m.done();
    bytes[5] = static_cast<uint8_t>(tag);
    bytes[6] = static_cast<uint8_t>(tag >> 8);
    raw(bytes);
    P9Parser h(last, 0);
    const uint32_t size = h.u32();
    const uint8_t rtype = h.u8();
    const uint16_t rtag = h.u16();
    if (!h.ok() || size != last.size() || rtag != tag) {
      *err = kBadReply;
    } else if (rtype == kP9Rlerror) {
      const uint32_t e = h.u32();
      *err = h.done() && e != 0 ? static_cast<int>(e) : kBadReply;
    } else if (rtype != type + 1) {
      *err = kBadReply;
    }
    return P9Parser(last, 7);
  }
  int empty_reply(P9Msg m, uint8_t type) {
    P9Parser p = VMRUN_P9_CALL(m, type, tag_);
    return p.done() ? 0 : kBadReply;
  }
  // A reply of one qid (with an iounit after it when `iounit`).
  int qid_reply(P9Msg m, uint8_t type, P9Qid* q, bool iounit) {
    P9Parser p = VMRUN_P9_CALL(m, type, tag_);
    P9Qid got = p.qid();
    if (iounit) p.u32();
    if (!p.done()) return kBadReply;
    if (q) *q = got;
    return 0;
  }
#undef VMRUN_P9_CALL

  devices::p9::Server& server_;
  uint16_t tag_ = 0;
};

// A share for one test: tmp/share is served (read-only if asked), beside it
// tmp/outside holds `secret`, which no request may ever reach. The session
// is negotiated (msize 64 KiB) and attached as fid kRoot.
class P9Share {
 public:
  static constexpr uint32_t kRoot = 0;

  explicit P9Share(bool read_only = false, bool attach = true)
      : share(init(tmp_.path())),
        outside(tmp_.path() + "/outside"),
        server(make(share, read_only)),
        c(*server) {
    if (attach && (c.version(65536, "9P2000.L") != 0 || c.attach(kRoot) != 0)) {
      throw std::runtime_error("p9 session setup failed");
    }
  }

  // Absolute host path of `rel` inside the share.
  std::string host(const std::string& rel) const { return share + "/" + rel; }
  const std::string& tmp() const { return tmp_.path(); }
  // Host-side file contents inside the share.
  void put(const std::string& rel, std::string_view data) const {
    std::ofstream(host(rel), std::ios::binary | std::ios::trunc) << data;
  }
  std::string get(const std::string& rel) const {
    std::ifstream f(host(rel), std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
  }

  // Everything in tmp except the share: names, types, modes, sizes, link
  // counts, change and modification times, contents. Equal snapshots mean
  // nothing outside the share changed.
  std::string outside_snapshot() const {
    std::ostringstream out;
    describe(out, tmp_.path(), ".");
    std::error_code ec;
    for (auto it =
             std::filesystem::recursive_directory_iterator(tmp_.path(), ec);
         !ec && it != std::filesystem::recursive_directory_iterator();
         it.increment(ec)) {
      const std::string p = it->path().string();
      if (p == share) {
        it.disable_recursion_pending();
        continue;
      }
      describe(out, p, p.substr(tmp_.path().size()));
    }
    return out.str();
  }

 private:
  static std::string init(const std::string& tmp) {
    const std::string s = tmp + "/share", o = tmp + "/outside";
    if (::mkdir(s.c_str(), 0755) != 0 || ::mkdir(o.c_str(), 0755) != 0) {
      throw std::runtime_error("mkdir failed");
    }
    std::ofstream(o + "/secret") << "secret";
    return s;
  }
  static std::unique_ptr<devices::p9::Server> make(const std::string& dir,
                                                   bool ro) {
    auto s = devices::p9::Server::create(dir, ro);
    if (!s) throw std::runtime_error(s.error().message());
    return std::move(s).value();
  }
  static void describe(std::ostream& out, const std::string& path,
                       const std::string& label) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
      out << label << ": gone\n";
      return;
    }
    out << label << ": mode " << std::oct << st.st_mode << std::dec << " size "
        << st.st_size << " nlink " << st.st_nlink << " uid " << st.st_uid
        << " mtime " << st.st_mtim.tv_sec << "." << st.st_mtim.tv_nsec
        << " ctime " << st.st_ctim.tv_sec << "." << st.st_ctim.tv_nsec;
    if (S_ISREG(st.st_mode)) {
      std::ifstream f(path, std::ios::binary);
      out << " data " << std::string(std::istreambuf_iterator<char>(f), {});
    }
    out << "\n";
  }

  TempDir tmp_;

 public:
  const std::string share, outside;
  std::unique_ptr<devices::p9::Server> server;
  P9Client c;
};

}  // namespace vmrun::test_support
