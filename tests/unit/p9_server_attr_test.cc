// p9::Server driven as Linux's v9fs client drives it: attributes (getattr,
// setattr, statfs, readlink), fsync, POSIX locks, the messages it does not
// support, and replies that do not fit.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <filesystem>
#include <string>
#include <vector>

#include "devices/p9/server.h"
#include "tests/support/p9_client.h"
#include "tests/support/p9_fixture.h"

namespace vmrun::devices::p9 {
namespace {

using namespace test_support;
constexpr uint32_t kRoot = P9Share::kRoot;

class P9ServerAttr : public P9ShareTest {};

TEST_F(P9ServerAttr, GetattrMatchesStat) {
  s.put("f", std::string(5000, 'x'));
  std::filesystem::create_directories(s.host("d/sub"));
  for (const char* name : {"f", "d"}) {
    ASSERT_EQ(c.walk(kRoot, 1, {name}), 0);
    P9Attr a;
    ASSERT_EQ(c.getattr(1, &a), 0);
    const struct stat st = host_stat(s.host(name));
    EXPECT_EQ(a.valid, kP9GetattrBasic);
    EXPECT_EQ(a.mode, st.st_mode) << name;
    EXPECT_EQ(a.uid, st.st_uid);
    EXPECT_EQ(a.gid, st.st_gid);
    EXPECT_EQ(a.nlink, st.st_nlink) << name;
    EXPECT_EQ(a.size, static_cast<uint64_t>(st.st_size)) << name;
    EXPECT_EQ(a.blocks, static_cast<uint64_t>(st.st_blocks));
    EXPECT_EQ(a.blksize, static_cast<uint64_t>(st.st_blksize));
    EXPECT_EQ(a.mtime_sec, static_cast<uint64_t>(st.st_mtim.tv_sec));
    EXPECT_EQ(a.mtime_nsec, static_cast<uint64_t>(st.st_mtim.tv_nsec));
    EXPECT_EQ(a.ctime_sec, static_cast<uint64_t>(st.st_ctim.tv_sec));
    ASSERT_EQ(c.clunk(1), 0);
  }
}

TEST_F(P9ServerAttr, SetattrModeSizeTimes) {
  s.put("f", "0123456789");
  ASSERT_EQ(c.walk(kRoot, 1, {"f"}), 0);
  P9SetAttr sa;
  sa.valid = kP9SetMode;
  sa.mode = S_IFREG | 0600;
  ASSERT_EQ(c.setattr(1, sa), 0);
  EXPECT_EQ(host_stat(s.host("f")).st_mode & 07777, 0600u);
  sa.mode = S_IFREG | 04755;  // set-user-ID dropped
  ASSERT_EQ(c.setattr(1, sa), 0);
  EXPECT_EQ(host_stat(s.host("f")).st_mode & 07777, 0755u);

  sa = {};
  sa.valid = kP9SetSize;  // truncate(2): the fid is not open
  sa.size = 3;
  ASSERT_EQ(c.setattr(1, sa), 0);
  EXPECT_EQ(s.get("f"), "012");

  sa = {};
  sa.valid = kP9SetMtime | kP9SetMtimeSet | kP9SetAtime | kP9SetAtimeSet;
  sa.mtime_sec = 1234567890;
  sa.mtime_nsec = 5;
  sa.atime_sec = 1000000000;
  sa.atime_nsec = 999999999;
  ASSERT_EQ(c.setattr(1, sa), 0);
  struct stat st = host_stat(s.host("f"));
  EXPECT_EQ(st.st_mtim.tv_sec, 1234567890);
  EXPECT_EQ(st.st_mtim.tv_nsec, 5);
  EXPECT_EQ(st.st_atim.tv_sec, 1000000000);
  EXPECT_EQ(st.st_atim.tv_nsec, 999999999);

  // Mtime without MTIME_SET: the server's "now"; atime left alone.
  sa = {};
  sa.valid = kP9SetMtime;
  const time_t before = ::time(nullptr);
  ASSERT_EQ(c.setattr(1, sa), 0);
  st = host_stat(s.host("f"));
  EXPECT_GE(st.st_mtim.tv_sec, before - 1);
  EXPECT_EQ(st.st_atim.tv_sec, 1000000000);

  sa = {};
  sa.valid = kP9SetMtime | kP9SetMtimeSet;
  sa.mtime_nsec = 1000000000;  // out of range
  EXPECT_EQ(c.setattr(1, sa), EINVAL);

  // Through an open fid: ftruncate.
  ASSERT_EQ(c.walk(kRoot, 2, {"f"}), 0);
  ASSERT_EQ(c.lopen(2, O_RDWR), 0);
  sa = {};
  sa.valid = kP9SetSize;
  sa.size = 8;
  ASSERT_EQ(c.setattr(2, sa), 0);
  EXPECT_EQ(s.get("f"), std::string("012\0\0\0\0\0", 8));
}

TEST_F(P9ServerAttr, SetattrOwnershipAcceptedAndIgnored) {
  s.put("f", "x");
  const struct stat before = host_stat(s.host("f"));
  ASSERT_EQ(c.walk(kRoot, 1, {"f"}), 0);
  P9SetAttr sa;
  sa.valid = kP9SetUid | kP9SetGid | kP9SetCtime;
  sa.uid = 1234;
  sa.gid = 5678;
  ASSERT_EQ(c.setattr(1, sa), 0);
  const struct stat after = host_stat(s.host("f"));
  EXPECT_EQ(after.st_uid, before.st_uid);
  EXPECT_EQ(after.st_gid, before.st_gid);
}

// truncate(2) in the guest while it holds the file open read-only: v9fs
// sends Tsetattr(size) on its open fid, and the file is truncated (through
// the file, not the read-only descriptor).
TEST_F(P9ServerAttr, SetattrSizeThroughReadOnlyOpenFid) {
  s.put("f", "0123456789");
  ASSERT_EQ(c.walk(kRoot, 1, {"f"}), 0);
  ASSERT_EQ(c.lopen(1, O_RDONLY), 0);
  P9SetAttr sa;
  sa.valid = kP9SetSize;
  sa.size = 4;
  EXPECT_EQ(c.setattr(1, sa), 0);
  EXPECT_EQ(s.get("f"), "0123");
}

TEST_F(P9ServerAttr, Statfs) {
  P9StatFs f;
  ASSERT_EQ(c.statfs(kRoot, &f), 0);
  struct statfs host {};
  ASSERT_EQ(::statfs(s.share.c_str(), &host), 0);
  EXPECT_EQ(f.type, 0x01021997u);
  EXPECT_EQ(f.bsize, static_cast<uint32_t>(host.f_bsize));
  EXPECT_EQ(f.blocks, host.f_blocks);
  EXPECT_EQ(f.files, host.f_files);
  EXPECT_EQ(f.namelen, static_cast<uint32_t>(host.f_namelen));
  EXPECT_EQ(c.statfs(77, &f), EBADF);
}

TEST_F(P9ServerAttr, Readlink) {
  const std::string target = "some//where/../x y";
  ASSERT_EQ(::symlink(target.c_str(), s.host("l").c_str()), 0);
  std::vector<P9Qid> q;
  ASSERT_EQ(c.walk(kRoot, 1, {"l"}, &q), 0);
  EXPECT_EQ(q[0].type, kQidSymlink);
  std::string got;
  ASSERT_EQ(c.readlink(1, &got), 0);
  EXPECT_EQ(got, target);
  s.put("f", "");
  ASSERT_EQ(c.walk(kRoot, 2, {"f"}), 0);
  EXPECT_NE(c.readlink(2, &got), 0);
  EXPECT_NE(c.readlink(kRoot, &got), 0);
}

TEST_F(P9ServerAttr, Fsync) {
  s.put("f", "x");
  ASSERT_EQ(c.walk(kRoot, 1, {"f"}), 0);
  EXPECT_EQ(c.fsync(1), EBADF);  // not open
  ASSERT_EQ(c.lopen(1, O_RDWR), 0);
  EXPECT_EQ(c.fsync(1, 0), 0);
  EXPECT_EQ(c.fsync(1, 1), 0);
  EXPECT_EQ(c.fsync(9), EBADF);
}

TEST_F(P9ServerAttr, LocksConflictBetweenOpens) {
  s.put("f", "0123456789");
  ASSERT_EQ(c.walk(kRoot, 1, {"f"}), 0);
  ASSERT_EQ(c.walk(kRoot, 2, {"f"}), 0);
  EXPECT_EQ(c.lock(1, kP9WrLck, 0, 0, nullptr), EBADF);  // not open
  ASSERT_EQ(c.lopen(1, O_RDWR), 0);
  ASSERT_EQ(c.lopen(2, O_RDWR), 0);
  uint8_t st = 99;
  ASSERT_EQ(c.lock(1, kP9WrLck, 0, 0, &st), 0);
  EXPECT_EQ(st, kP9LockSuccess);
  ASSERT_EQ(c.lock(2, kP9WrLck, 2, 3, &st), 0);
  EXPECT_EQ(st, kP9LockBlocked);  // never blocks the server
  ASSERT_EQ(c.lock(2, kP9RdLck, 0, 1, &st), 0);
  EXPECT_EQ(st, kP9LockBlocked);

  P9Lock l;
  ASSERT_EQ(c.getlock(2, kP9WrLck, 0, 0, &l), 0);
  EXPECT_EQ(l.type, kP9WrLck);  // the conflicting lock
  EXPECT_EQ(l.start, 0u);
  EXPECT_EQ(l.length, 0u);
  EXPECT_EQ(l.client_id, "guest");
  ASSERT_EQ(c.getlock(1, kP9WrLck, 0, 0, &l), 0);
  EXPECT_EQ(l.type, kP9UnLck);  // a lock never conflicts with its own open
  EXPECT_EQ(l.proc_id, 43u);

  // The lock holds against the host too.
  int host = ::open(s.host("f").c_str(), O_RDWR);
  ASSERT_GE(host, 0);
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  EXPECT_EQ(::fcntl(host, F_OFD_GETLK, &fl), 0);
  EXPECT_EQ(fl.l_type, F_WRLCK);
  ::close(host);

  ASSERT_EQ(c.lock(1, kP9UnLck, 0, 0, &st), 0);
  EXPECT_EQ(st, kP9LockSuccess);
  ASSERT_EQ(c.getlock(2, kP9WrLck, 0, 0, &l), 0);
  EXPECT_EQ(l.type, kP9UnLck);
  ASSERT_EQ(c.lock(2, kP9WrLck, 5, 5, &st), 0);
  EXPECT_EQ(st, kP9LockSuccess);
  // Clunking the holder releases its locks.
  ASSERT_EQ(c.clunk(2), 0);
  ASSERT_EQ(c.lock(1, kP9WrLck, 0, 0, &st), 0);
  EXPECT_EQ(st, kP9LockSuccess);

  EXPECT_EQ(c.lock(1, 3, 0, 0, &st), EINVAL);  // no such lock type
  EXPECT_EQ(c.getlock(1, 7, 0, 0, &l), EINVAL);
  EXPECT_EQ(c.lock(1, kP9WrLck, uint64_t{1} << 63, 0, &st), EINVAL);
}

TEST_F(P9ServerAttr, WriteLockOnReadOnlyOpenIsAnError) {
  s.put("f", "x");
  ASSERT_EQ(c.walk(kRoot, 1, {"f"}), 0);
  ASSERT_EQ(c.lopen(1, O_RDONLY), 0);
  uint8_t st = 99;
  ASSERT_EQ(c.lock(1, kP9RdLck, 0, 0, &st), 0);
  EXPECT_EQ(st, kP9LockSuccess);
  ASSERT_EQ(c.lock(1, kP9WrLck, 0, 0, &st), 0);
  EXPECT_EQ(st, kP9LockError);
}

TEST_F(P9ServerAttr, UnsupportedMessages) {
  EXPECT_EQ(c.xattrwalk(kRoot, 1, "user.foo"), EOPNOTSUPP);
  EXPECT_EQ(c.xattrwalk(kRoot, 1, ""), EOPNOTSUPP);
  EXPECT_EQ(s.server->fid_count(), 1u);
  auto xc = c.raw(
      P9Msg(kP9Txattrcreate, 3).u32(kRoot).str("user.x").u64(1).u32(0).done());
  EXPECT_EQ(xc, error_reply(3, EOPNOTSUPP));
  auto auth = c.raw(P9Msg(kP9Tauth, 4).u32(1).str("u").str("").u32(0).done());
  EXPECT_EQ(auth, error_reply(4, EOPNOTSUPP));
}

TEST_F(P9ServerAttr, FlushAnswersRflush) {
  auto r = c.raw(P9Msg(kP9Tflush, 0x4321).u16(0x1234).done());
  EXPECT_EQ(r, (std::vector<uint8_t>{7, 0, 0, 0, kP9Tflush + 1, 0x21, 0x43}));
  EXPECT_EQ(c.flush(0xffff), 0);
}

TEST_F(P9ServerAttr, RepliesLargerThanTheRoomFail) {
  s.put("f", std::string(1000, 'y'));
  ASSERT_EQ(c.walk(kRoot, 1, {"f"}), 0);
  ASSERT_EQ(c.lopen(1, O_RDONLY), 0);
  c.max_reply = 60;  // Rgetattr is 160 bytes
  EXPECT_EQ(c.getattr(1, nullptr), EMSGSIZE);
  std::string d;
  ASSERT_EQ(c.read(1, 0, 1000, &d), 0);  // reads are cut to fit
  EXPECT_EQ(d, std::string(60 - 11, 'y'));
  EXPECT_EQ(c.last.size(), 60u);
  c.max_reply = 0;  // an error still fits
  EXPECT_EQ(c.getattr(1, nullptr), EMSGSIZE);
  EXPECT_EQ(c.last.size(), 11u);
  ASSERT_EQ(c.read(1, 0, 1000, &d), 0);
  EXPECT_EQ(d, "");
}

}  // namespace
}  // namespace vmrun::devices::p9
