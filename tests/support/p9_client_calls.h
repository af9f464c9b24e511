// The 9P2000.L test client proper (included by p9_client.h): P9Client sends
// one T-message per call to a p9::Server, with a fresh tag, and parses the
// reply. Every call returns 0 on success, the errno of an Rlerror, or
// kBadReply when the reply is malformed (wrong size field, tag or type,
// short body). Header-only, no GoogleTest.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "devices/p9/server.h"
#include "tests/support/p9_client_wire.h"

namespace vmrun::test_support {

constexpr int kBadReply = -1;

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

}  // namespace vmrun::test_support
