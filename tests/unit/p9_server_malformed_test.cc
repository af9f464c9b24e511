// p9::Server on bad input and at its limits: every message type cut at
// every length, size fields that lie, unknown types and fids, huge counts
// and offsets, the fid table's bound, and a read-only share refusing every
// change. Each answer must be an Rlerror (or a fitting reply), never a
// crash, and nothing may change on the host.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "devices/p9/server.h"
#include "tests/support/p9_client.h"

namespace vmrun::devices::p9 {
namespace {

using namespace test_support;
constexpr uint32_t kRoot = P9Share::kRoot;
constexpr uint16_t kTag = 0x0a0b;

// Every entry under `dir` with its type, size, mode, link count, times
// and contents: equal strings mean nothing in it changed.
std::string tree(const std::string& dir) {
  std::ostringstream out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    struct stat st {};
    ::lstat(e.path().c_str(), &st);
    out << e.path().string().substr(dir.size()) << " " << std::oct << st.st_mode
        << std::dec << " " << st.st_size << " " << st.st_nlink << " "
        << st.st_mtim.tv_sec << "." << st.st_mtim.tv_nsec << " "
        << st.st_ctim.tv_nsec;
    if (S_ISREG(st.st_mode)) {
      std::ifstream f(e.path(), std::ios::binary);
      out << " " << std::string(std::istreambuf_iterator<char>(f), {});
    }
    out << "\n";
  }
  return out.str();
}

// A share with a file, a directory and a symlink, and fids on them:
// 1 the directory, 2 the file open read-write, 3 the directory open,
// 4 the symlink.
void populate(P9Share& s) {
  s.put("f", "file data");
  ASSERT_EQ(::mkdir(s.host("d").c_str(), 0755), 0);
  s.put("d/sub", "");
  ASSERT_EQ(::symlink("f", s.host("l").c_str()), 0);
  ASSERT_EQ(s.c.walk(kRoot, 1, {"d"}), 0);
  ASSERT_EQ(s.c.walk(kRoot, 2, {"f"}), 0);
  ASSERT_EQ(s.c.lopen(2, O_RDWR), 0);
  ASSERT_EQ(s.c.walk(kRoot, 3, {"d"}), 0);
  ASSERT_EQ(s.c.lopen(3, O_RDONLY), 0);
  ASSERT_EQ(s.c.walk(kRoot, 4, {"l"}), 0);
}

struct Sample {
  std::string what;
  std::vector<uint8_t> bytes;
  int full_err;  // what the whole message gets: 0 or an errno
};

// One valid message of every type the server knows, against populate()'s
// fids, all tagged kTag.
std::vector<Sample> samples() {
  P9SetAttr sa;
  sa.valid = kP9SetMode | kP9SetMtime | kP9SetMtimeSet;
  sa.mode = 0600;
  sa.mtime_sec = 100;
  auto m = [](uint8_t type) { return P9Msg(type, kTag); };
  return {
      {"version", m(kP9Tversion).u32(8192).str("9P2000.L").done(), 0},
      {"attach",
       m(kP9Tattach).u32(50).u32(kNoFid).str("u").str("").u32(0).done(), 0},
      {"walk", m(kP9Twalk).u32(kRoot).u32(50).u16(2).str("d").str("sub").done(),
       0},
      {"lopen", m(kP9Tlopen).u32(1).u32(0).done(), 0},
      {"lcreate",
       m(kP9Tlcreate).u32(1).str("new").u32(O_RDWR).u32(0644).u32(0).done(), 0},
      {"read", m(kP9Tread).u32(2).u64(0).u32(100).done(), 0},
      {"write", m(kP9Twrite).u32(2).u64(0).u32(5).raw("hello").done(), 0},
      {"clunk", m(kP9Tclunk).u32(2).done(), 0},
      {"remove", m(kP9Tremove).u32(2).done(), 0},
      {"getattr", m(kP9Tgetattr).u32(2).u64(kP9GetattrBasic).done(), 0},
      {"setattr", P9Client::setattr_msg(2, sa, kTag).done(), 0},
      {"statfs", m(kP9Tstatfs).u32(kRoot).done(), 0},
      {"readlink", m(kP9Treadlink).u32(4).done(), 0},
      {"readdir", m(kP9Treaddir).u32(3).u64(0).u32(1000).done(), 0},
      {"mkdir", m(kP9Tmkdir).u32(kRoot).str("nd").u32(0755).u32(0).done(), 0},
      {"symlink",
       m(kP9Tsymlink).u32(kRoot).str("ns").str("target").u32(0).done(), 0},
      {"mknod",
       m(kP9Tmknod)
           .u32(kRoot)
           .str("nn")
           .u32(S_IFIFO | 0644)
           .u32(0)
           .u32(0)
           .u32(0)
           .done(),
       0},
      {"link", m(kP9Tlink).u32(kRoot).u32(2).str("nl").done(), 0},
      {"rename", m(kP9Trename).u32(2).u32(1).str("nr").done(), 0},
      {"renameat", m(kP9Trenameat).u32(kRoot).str("f").u32(1).str("nra").done(),
       0},
      {"unlinkat", m(kP9Tunlinkat).u32(kRoot).str("f").u32(0).done(), 0},
      {"fsync", m(kP9Tfsync).u32(2).u32(1).done(), 0},
      {"lock",
       m(kP9Tlock)
           .u32(2)
           .u8(kP9WrLck)
           .u32(0)
           .u64(0)
           .u64(10)
           .u32(7)
           .str("client")
           .done(),
       0},
      {"getlock",
       m(kP9Tgetlock)
           .u32(2)
           .u8(kP9WrLck)
           .u64(0)
           .u64(10)
           .u32(7)
           .str("client")
           .done(),
       0},
      {"flush", m(kP9Tflush).u16(3).done(), 0},
      {"xattrwalk", m(kP9Txattrwalk).u32(kRoot).u32(50).str("user.x").done(),
       EOPNOTSUPP},
      {"xattrcreate",
       m(kP9Txattrcreate).u32(kRoot).str("user.x").u64(1).u32(0).done(),
       EOPNOTSUPP},
      {"auth", m(kP9Tauth).u32(50).str("u").str("").u32(0).done(), EOPNOTSUPP},
  };
}

uint32_t reply_errno(const std::vector<uint8_t>& r) {
  return r[7] | r[8] << 8 | r[9] << 16 | uint32_t{r[10]} << 24;
}

TEST(P9ServerMalformed, EveryMessageCutAtEveryLength) {
  for (const Sample& sample : samples()) {
    SCOPED_TRACE(sample.what);
    P9Share s;
    populate(s);
    const size_t fids = s.server->fid_count();
    const std::string share_before = tree(s.share),
                      outside_before = s.outside_snapshot();
    for (size_t len = 0; len < sample.bytes.size(); ++len) {
      std::vector<uint8_t> cut(sample.bytes.begin(),
                               sample.bytes.begin() + len);
      // The size field still claims the whole message: a mismatch.
      auto r = s.c.raw(cut);
      ASSERT_EQ(r.size(), 11u) << len;
      EXPECT_EQ(r[4], kP9Rlerror);
      EXPECT_EQ(reply_errno(r), uint32_t{EINVAL});
      EXPECT_EQ(r[5] | r[6] << 8, len >= 7 ? kTag : kNoTag) << len;
      if (len < 4) continue;
      // The size field fixed up to match: the body is short.
      for (int i = 0; i < 4; ++i) cut[i] = static_cast<uint8_t>(len >> (8 * i));
      r = s.c.raw(cut);
      ASSERT_EQ(r.size(), 11u) << len;
      EXPECT_EQ(r[4], kP9Rlerror) << len;
      EXPECT_EQ(r[5] | r[6] << 8, len >= 7 ? kTag : kNoTag) << len;
      EXPECT_EQ(
          reply_errno(r),
          uint32_t(len >= 7 && sample.full_err ? sample.full_err : EINVAL))
          << len;
    }
    EXPECT_EQ(s.server->fid_count(), fids);
    EXPECT_EQ(tree(s.share), share_before);
    EXPECT_EQ(s.outside_snapshot(), outside_before);
    // The whole message is fine: only the cuts were refused.
    auto r = s.c.raw(sample.bytes);
    ASSERT_GE(r.size(), 7u);
    EXPECT_EQ(r[5] | r[6] << 8, kTag);
    if (sample.full_err) {
      EXPECT_EQ(r, error_reply(kTag, sample.full_err));
    } else {
      EXPECT_EQ(r[4], sample.bytes[4] + 1)
          << (r[4] == kP9Rlerror ? reply_errno(r) : 0);
    }
  }
}

TEST(P9ServerMalformed, SizeFieldMustMatch) {
  P9Share s;
  auto good = P9Msg(kP9Tclunk, kTag).u32(kRoot).done();
  for (uint32_t size : {0u, 6u, 7u, 10u, 12u, 0xffffffffu}) {
    auto bad = good;
    for (int i = 0; i < 4; ++i) bad[i] = static_cast<uint8_t>(size >> (8 * i));
    EXPECT_EQ(s.c.raw(bad), error_reply(kTag, EINVAL)) << size;
  }
  auto longer = good;
  longer.push_back(0);  // one byte more than the size says
  EXPECT_EQ(s.c.raw(longer), error_reply(kTag, EINVAL));
  EXPECT_EQ(s.server->fid_count(), 1u);
  EXPECT_EQ(s.c.raw(good),
            (std::vector<uint8_t>{7, 0, 0, 0, kP9Tclunk + 1, 0x0b, 0x0a}));
  EXPECT_EQ(s.server->fid_count(), 0u);
}

TEST(P9ServerMalformed, UnknownTypes) {
  P9Share s;
  for (uint8_t type : {0, 6, 7, 9, 11, 101, 105, 111, 117, 124, 200, 255}) {
    auto r = s.c.raw(P9Msg(type, kTag).u32(kRoot).u32(1).done());
    EXPECT_EQ(r, error_reply(kTag, EOPNOTSUPP)) << int(type);
  }
  EXPECT_EQ(s.server->fid_count(), 1u);
}

TEST(P9ServerMalformed, UnknownFidsAreEBADF) {
  P9Share s;
  populate(s);
  P9Client& c = s.c;
  const uint32_t x = 999;
  EXPECT_EQ(c.walk(x, 50, {}), EBADF);
  EXPECT_EQ(c.lopen(x, O_RDONLY), EBADF);
  EXPECT_EQ(c.lcreate(x, "n", O_RDWR, 0644), EBADF);
  EXPECT_EQ(c.read(x, 0, 10, nullptr), EBADF);
  EXPECT_EQ(c.write(x, 0, "x"), EBADF);
  EXPECT_EQ(c.clunk(x), EBADF);
  EXPECT_EQ(c.remove(x), EBADF);
  EXPECT_EQ(c.getattr(x, nullptr), EBADF);
  EXPECT_EQ(c.setattr(x, P9SetAttr{}), EBADF);
  EXPECT_EQ(c.statfs(x, nullptr), EBADF);
  EXPECT_EQ(c.readlink(x, nullptr), EBADF);
  EXPECT_EQ(c.readdir(x, 0, 100, nullptr), EBADF);
  EXPECT_EQ(c.mkdir(x, "n", 0755), EBADF);
  EXPECT_EQ(c.symlink(x, "n", "t"), EBADF);
  EXPECT_EQ(c.mknod(x, "n", S_IFIFO | 0644, 0, 0), EBADF);
  EXPECT_EQ(c.link(x, 2, "n"), EBADF);
  EXPECT_EQ(c.link(kRoot, x, "n"), EBADF);
  EXPECT_EQ(c.rename(x, kRoot, "n"), EBADF);
  EXPECT_EQ(c.rename(2, x, "n"), EBADF);
  EXPECT_EQ(c.renameat(x, "f", kRoot, "n"), EBADF);
  EXPECT_EQ(c.renameat(kRoot, "f", x, "n"), EBADF);
  EXPECT_EQ(c.unlinkat(x, "f", 0), EBADF);
  EXPECT_EQ(c.fsync(x), EBADF);
  EXPECT_EQ(c.lock(x, kP9RdLck, 0, 0, nullptr), EBADF);
  EXPECT_EQ(c.getlock(x, kP9RdLck, 0, 0, nullptr), EBADF);
  EXPECT_EQ(s.get("f"), "file data");
}

// NOFID means "no fid" in the protocol: Twalk refuses it as newfid, as
// Tattach does.
TEST(P9ServerMalformed, WalkNeverMakesNofid) {
  P9Share s;
  EXPECT_EQ(s.c.walk(kRoot, kNoFid, {}), EBADF);
  EXPECT_EQ(s.server->fid_count(), 1u);
}

TEST(P9ServerMalformed, HugeCountsAreClampedToTheReply) {
  P9Share s;
  s.put("big", std::string(300000, 'b'));
  P9Client& c = s.c;
  ASSERT_EQ(c.walk(kRoot, 1, {"big"}), 0);
  ASSERT_EQ(c.lopen(1, O_RDONLY), 0);
  std::string d;
  ASSERT_EQ(c.read(1, 0, 0xffffffff, &d), 0);
  EXPECT_EQ(d.size(), 65536u - 11);  // msize 64 KiB
  c.max_reply = 100;
  ASSERT_EQ(c.read(1, 0, 0xffffffff, &d), 0);
  EXPECT_EQ(d.size(), 100u - 11);
  EXPECT_EQ(c.last.size(), 100u);
  ASSERT_EQ(c.read(1, 299990, 0xffffffff, &d), 0);
  EXPECT_EQ(d.size(), 10u);
  c.max_reply = 1 << 20;
  ASSERT_EQ(c.walk(kRoot, 2, {}), 0);
  ASSERT_EQ(c.lopen(2, O_RDONLY), 0);
  ASSERT_EQ(c.readdir(2, 0, 0xffffffff, nullptr), 0);
  EXPECT_LE(c.last.size(), 65536u);
  // Offsets beyond off_t.
  EXPECT_EQ(c.read(1, uint64_t{1} << 63, 10, &d), EINVAL);
  EXPECT_EQ(c.readdir(2, ~uint64_t{0}, 100, nullptr), EINVAL);
  ASSERT_EQ(c.walk(kRoot, 3, {"big"}), 0);
  ASSERT_EQ(c.lopen(3, O_RDWR), 0);
  EXPECT_EQ(c.write(3, ~uint64_t{0}, "x"), EINVAL);
  P9SetAttr sa;
  sa.valid = kP9SetSize;
  sa.size = ~uint64_t{0};
  EXPECT_EQ(c.setattr(3, sa), EINVAL);
  // A Twrite whose count runs past the message.
  auto r =
      c.raw(P9Msg(kP9Twrite, kTag).u32(3).u64(0).u32(10).raw("short").done());
  EXPECT_EQ(r, error_reply(kTag, EINVAL));
  EXPECT_EQ(s.get("big"), std::string(300000, 'b'));
}

TEST(P9ServerMalformed, FidTableIsBounded) {
  P9Share s;
  P9Client& c = s.c;
  // Clones share their descriptor, so the table fills without using up
  // the process's descriptors.
  uint32_t id = 1;
  for (; s.server->fid_count() < Server::kMaxFids; ++id)
    ASSERT_EQ(c.walk(kRoot, id, {}), 0);
  EXPECT_EQ(c.walk(kRoot, id, {}), ENFILE);
  EXPECT_EQ(c.attach(id), ENFILE);
  EXPECT_EQ(s.server->fid_count(), Server::kMaxFids);
  EXPECT_EQ(c.walk(5, 5, {}), 0);  // moving a fid onto itself needs no room
  ASSERT_EQ(c.clunk(5), 0);
  EXPECT_EQ(c.walk(kRoot, id, {}), 0);
  EXPECT_EQ(c.walk(kRoot, id + 1, {}), ENFILE);
  // A new session empties the table.
  ASSERT_EQ(c.version(8192, "9P2000.L"), 0);
  EXPECT_EQ(s.server->fid_count(), 0u);
  EXPECT_EQ(c.attach(kRoot), 0);
}

TEST(P9ServerMalformed, ClunkedFidsAreFreed) {
  P9Share s;
  s.put("f", "x");
  for (uint32_t round = 0; round < 2000; ++round) {
    ASSERT_EQ(s.c.walk(kRoot, 7, {"f"}), 0) << round;
    ASSERT_EQ(s.c.lopen(7, O_RDONLY), 0);
    ASSERT_EQ(s.c.clunk(7), 0);
  }
  EXPECT_EQ(s.server->fid_count(), 1u);
}

TEST(P9ServerMalformed, ReadOnlyShareRefusesEveryChange) {
  P9Share s(true);
  P9Client& c = s.c;
  s.put("f", "file data");
  ASSERT_EQ(::mkdir(s.host("d").c_str(), 0755), 0);
  s.put("d/sub", "");
  ASSERT_EQ(::symlink("f", s.host("l").c_str()), 0);
  const std::string before = tree(s.share);

  // Reads work.
  ASSERT_EQ(c.walk(kRoot, 1, {"f"}), 0);
  ASSERT_EQ(c.lopen(1, O_RDONLY), 0);
  std::string d;
  ASSERT_EQ(c.read(1, 0, 100, &d), 0);
  EXPECT_EQ(d, "file data");
  ASSERT_EQ(c.getattr(1, nullptr), 0);
  ASSERT_EQ(c.fsync(1), 0);
  uint8_t st = 9;
  ASSERT_EQ(c.lock(1, kP9RdLck, 0, 0, &st), 0);
  EXPECT_EQ(st, kP9LockSuccess);
  ASSERT_EQ(c.statfs(kRoot, nullptr), 0);
  ASSERT_EQ(c.walk(kRoot, 2, {"l"}), 0);
  ASSERT_EQ(c.readlink(2, &d), 0);
  EXPECT_EQ(d, "f");
  ASSERT_EQ(c.walk(kRoot, 3, {"d"}), 0);
  ASSERT_EQ(c.lopen(3, O_RDONLY), 0);
  std::vector<P9DirEntry> entries;
  ASSERT_EQ(c.readdir(3, 0, 4096, &entries), 0);
  EXPECT_EQ(entries.size(), 3u);

  // Every change: EROFS.
  EXPECT_EQ(c.write(1, 0, "x"), EROFS);
  ASSERT_EQ(c.walk(kRoot, 4, {"f"}), 0);
  for (uint32_t flags : {O_WRONLY, O_RDWR, O_RDONLY | O_TRUNC,
                         O_WRONLY | O_APPEND, O_RDONLY | O_APPEND}) {
    EXPECT_EQ(c.lopen(4, flags), EROFS) << flags;
  }
  ASSERT_EQ(c.walk(kRoot, 5, {}), 0);
  EXPECT_EQ(c.lcreate(5, "new", O_RDWR, 0644), EROFS);
  EXPECT_EQ(c.mkdir(kRoot, "new", 0755), EROFS);
  EXPECT_EQ(c.symlink(kRoot, "new", "t"), EROFS);
  EXPECT_EQ(c.mknod(kRoot, "new", S_IFIFO | 0644, 0, 0), EROFS);
  EXPECT_EQ(c.link(kRoot, 4, "new"), EROFS);
  EXPECT_EQ(c.rename(4, kRoot, "new"), EROFS);
  EXPECT_EQ(c.renameat(kRoot, "f", kRoot, "new"), EROFS);
  EXPECT_EQ(c.unlinkat(kRoot, "f", 0), EROFS);
  EXPECT_EQ(c.unlinkat(kRoot, "d", kP9AtRemoveDir), EROFS);
  for (uint32_t valid : {kP9SetMode, kP9SetUid | kP9SetGid, kP9SetSize,
                         kP9SetMtime | kP9SetMtimeSet, kP9SetAtime}) {
    P9SetAttr sa;
    sa.valid = valid;
    sa.mode = 0777;
    EXPECT_EQ(c.setattr(4, sa), EROFS) << valid;
    EXPECT_EQ(c.setattr(1, sa), EROFS) << valid;
  }
  EXPECT_EQ(c.remove(4), EROFS);
  EXPECT_EQ(c.getattr(4, nullptr), EBADF);  // Tremove clunked it all the same
  ASSERT_EQ(c.walk(kRoot, 6, {"d"}), 0);
  EXPECT_EQ(c.remove(6), EROFS);
  EXPECT_EQ(tree(s.share), before);
}

}  // namespace
}  // namespace vmrun::devices::p9
