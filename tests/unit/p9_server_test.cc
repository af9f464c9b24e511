// p9::Server driven as Linux's v9fs client drives it: the session (version,
// attach, walk) and file I/O. Attributes, locks and the rest:
// p9_server_attr_test.cc; directory operations: p9_server_dir_test.cc;
// confinement: p9_server_hostile_test.cc; bad input:
// p9_server_malformed_test.cc.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
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

class P9Server : public P9ShareTest {};

TEST(P9ServerVersion, NegotiatesMsizeWithinBounds) {
  P9Share s(false, false);
  struct Case {
    uint32_t asked, got;
  } cases[] = {{0, 4096},
               {100, 4096},
               {4095, 4096},
               {4096, 4096},
               {8192, 8192},
               {65536 + 7, 65543},
               {1 << 20, 1 << 20},
               {(1 << 20) + 1, 1 << 20},
               {0xffffffff, 1 << 20}};
  for (const auto& k : cases) {
    uint32_t msize = 0;
    std::string v;
    ASSERT_EQ(s.c.version(k.asked, "9P2000.L", &msize, &v), 0) << k.asked;
    EXPECT_EQ(msize, k.got) << k.asked;
    EXPECT_EQ(s.server->msize(), k.got);
    EXPECT_EQ(v, "9P2000.L");
    EXPECT_EQ(s.c.last[5], 0xff);  // Rversion keeps NOTAG
    EXPECT_EQ(s.c.last[6], 0xff);
  }
}

TEST(P9ServerVersion, UnknownVersionsAnsweredUnknown) {
  P9Share s(false, false);
  for (const char* asked : {"9P2000", "9P2000.u", "", "9P", "9p2000.L"}) {
    std::string v;
    ASSERT_EQ(s.c.version(8192, asked, nullptr, &v), 0) << asked;
    EXPECT_EQ(v, "unknown") << asked;
  }
}

TEST_F(P9Server, VersionStartsANewSession) {
  ASSERT_EQ(c.walk(kRoot, 1, {}), 0);
  EXPECT_EQ(s.server->fid_count(), 2u);
  ASSERT_EQ(c.version(8192, "9P2000.L"), 0);
  EXPECT_EQ(s.server->fid_count(), 0u);
  EXPECT_EQ(c.clunk(kRoot), EBADF);
  EXPECT_EQ(c.clunk(1), EBADF);
  EXPECT_EQ(c.attach(kRoot), 0);
}

TEST_F(P9Server, AttachGivesTheRoot) {
  P9Qid q;
  ASSERT_EQ(c.attach(7, &q), 0);
  EXPECT_EQ(q.type, kQidDir);
  P9Attr a;
  ASSERT_EQ(c.getattr(7, &a), 0);
  EXPECT_EQ(a.qid, q);
  EXPECT_EQ(a.mode, host_stat(s.share).st_mode);
  EXPECT_EQ(c.attach(7), EBADF);       // fid in use
  EXPECT_EQ(c.attach(kNoFid), EBADF);  // NOFID is never a fid
}

TEST_F(P9Server, WalkManyComponents) {
  std::filesystem::create_directories(s.host("a/b/c"));
  s.put("a/b/c/f", "x");
  std::vector<P9Qid> q;
  ASSERT_EQ(c.walk(kRoot, 1, {"a", "b", "c", "f"}, &q), 0);
  ASSERT_EQ(q.size(), 4u);
  EXPECT_EQ(q[0].type, kQidDir);
  EXPECT_EQ(q[2].type, kQidDir);
  EXPECT_EQ(q[3].type, 0);
  EXPECT_NE(q[0].path, q[1].path);
  P9Attr a;
  ASSERT_EQ(c.getattr(1, &a), 0);
  EXPECT_EQ(a.qid, q[3]);
  EXPECT_EQ(a.size, 1u);
  // Walking again gives the same qids (stable file identity).
  std::vector<P9Qid> again;
  ASSERT_EQ(c.walk(kRoot, 2, {"a", "b"}, &again), 0);
  EXPECT_EQ(again[1], q[1]);
}

TEST_F(P9Server, PartialWalkReturnsFewerQidsAndNoNewfid) {
  std::filesystem::create_directories(s.host("a/b"));
  s.put("a/f", "x");
  const size_t fids = s.server->fid_count();
  std::vector<P9Qid> q;
  ASSERT_EQ(c.walk(kRoot, 1, {"a", "missing", "b"}, &q), 0);
  EXPECT_EQ(q.size(), 1u);
  EXPECT_EQ(c.getattr(1, nullptr), EBADF);
  // Through a file: a partial walk too.
  ASSERT_EQ(c.walk(kRoot, 1, {"a", "f", "x"}, &q), 0);
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(c.getattr(1, nullptr), EBADF);
  EXPECT_EQ(s.server->fid_count(), fids);
  // The first name missing: an error, not an empty Rwalk.
  EXPECT_EQ(c.walk(kRoot, 1, {"missing"}), ENOENT);
  EXPECT_EQ(c.walk(kRoot, 1, {"missing", "a"}), ENOENT);
  EXPECT_EQ(s.server->fid_count(), fids);
}

TEST_F(P9Server, WalkWithoutNamesClones) {
  s.put("f", "data");
  std::vector<P9Qid> q;
  ASSERT_EQ(c.walk(kRoot, 5, {}, &q), 0);
  EXPECT_TRUE(q.empty());
  P9Attr root, clone;
  ASSERT_EQ(c.getattr(kRoot, &root), 0);
  ASSERT_EQ(c.getattr(5, &clone), 0);
  EXPECT_EQ(root.qid, clone.qid);
  // The clone walks on its own; walking a fid onto itself moves it.
  ASSERT_EQ(c.walk(5, 5, {"f"}), 0);
  ASSERT_EQ(c.getattr(5, &clone), 0);
  EXPECT_EQ(clone.size, 4u);
  ASSERT_EQ(c.getattr(kRoot, &root), 0);
  EXPECT_EQ(root.qid.type, kQidDir);
  // A clone of a file fid, then both opened independently.
  ASSERT_EQ(c.walk(5, 6, {}), 0);
  ASSERT_EQ(c.lopen(5, O_RDONLY), 0);
  ASSERT_EQ(c.lopen(6, O_RDONLY), 0);
  std::string d;
  ASSERT_EQ(c.read(6, 0, 100, &d), 0);
  EXPECT_EQ(d, "data");
}

TEST_F(P9Server, WalkRefusals) {
  ASSERT_EQ(c.walk(kRoot, 1, {}), 0);
  EXPECT_EQ(c.walk(kRoot, 1, {}), EBADF);  // newfid in use
  std::vector<std::string> seventeen(17, "..");
  EXPECT_EQ(c.walk(kRoot, 2, seventeen), EINVAL);
  std::vector<std::string> sixteen(16, "..");
  EXPECT_EQ(c.walk(kRoot, 2, sixteen), 0);
  ASSERT_EQ(c.lopen(1, O_RDONLY), 0);
  EXPECT_EQ(c.walk(1, 3, {}), EBADF);  // an open fid cannot walk
  EXPECT_EQ(c.walk(99, 3, {}), EBADF);
}

TEST_F(P9Server, LopenReadWriteClunk) {
  s.put("f", "hello world");
  ASSERT_EQ(c.walk(kRoot, 1, {"f"}), 0);
  P9Qid q;
  ASSERT_EQ(c.lopen(1, O_RDONLY | kP9LargeFile, &q), 0);
  EXPECT_EQ(q.type, 0);
  std::string d;
  ASSERT_EQ(c.read(1, 0, 5, &d), 0);
  EXPECT_EQ(d, "hello");
  ASSERT_EQ(c.read(1, 6, 100, &d), 0);
  EXPECT_EQ(d, "world");
  ASSERT_EQ(c.read(1, 11, 100, &d), 0);
  EXPECT_EQ(d, "");
  ASSERT_EQ(c.read(1, 1000, 100, &d), 0);
  EXPECT_EQ(d, "");
  EXPECT_EQ(c.write(1, 0, "x"), EBADF);    // opened read-only
  EXPECT_EQ(c.lopen(1, O_RDONLY), EBADF);  // already open
  ASSERT_EQ(c.clunk(1), 0);
  EXPECT_EQ(c.read(1, 0, 5, &d), EBADF);
  EXPECT_EQ(c.clunk(1), EBADF);

  ASSERT_EQ(c.walk(kRoot, 2, {"f"}), 0);
  ASSERT_EQ(c.lopen(2, O_RDWR), 0);
  uint32_t n = 0;
  ASSERT_EQ(c.write(2, 6, "there", &n), 0);
  EXPECT_EQ(n, 5u);
  EXPECT_EQ(s.get("f"), "hello there");
  ASSERT_EQ(c.write(2, 13, "!", &n), 0);
  EXPECT_EQ(s.get("f"), std::string("hello there\0\0!", 14));
  ASSERT_EQ(c.clunk(2), 0);

  ASSERT_EQ(c.walk(kRoot, 3, {"f"}), 0);
  ASSERT_EQ(c.lopen(3, O_WRONLY | O_APPEND), 0);
  ASSERT_EQ(c.write(3, 0, "+"), 0);  // appends whatever the offset
  EXPECT_EQ(s.get("f").back(), '+');
  ASSERT_EQ(c.read(3, 0, 10, &d), EBADF);  // write-only
  ASSERT_EQ(c.clunk(3), 0);

  ASSERT_EQ(c.walk(kRoot, 4, {"f"}), 0);
  ASSERT_EQ(c.lopen(4, O_WRONLY | O_TRUNC), 0);
  EXPECT_EQ(s.get("f"), "");
}

TEST_F(P9Server, DirectoriesOpenForListingOnly) {
  ASSERT_EQ(c.mkdir(kRoot, "d", 0755), 0);
  ASSERT_EQ(c.walk(kRoot, 1, {"d"}), 0);
  P9Qid q;
  ASSERT_EQ(c.lopen(1, O_RDONLY | O_DIRECTORY, &q), 0);
  EXPECT_EQ(q.type, kQidDir);
  std::string d;
  EXPECT_EQ(c.read(1, 0, 100, &d), EBADF);
  EXPECT_EQ(c.write(1, 0, "x"), EBADF);
  // A file opened with O_DIRECTORY fails as on Linux.
  s.put("f", "");
  ASSERT_EQ(c.walk(kRoot, 2, {"f"}), 0);
  EXPECT_EQ(c.lopen(2, O_RDONLY | O_DIRECTORY), ENOTDIR);
}

TEST_F(P9Server, LcreateMakesTheFileAndOpensIt) {
  ASSERT_EQ(c.walk(kRoot, 1, {}), 0);
  P9Qid q;
  ASSERT_EQ(c.lcreate(1, "new", O_RDWR | O_CREAT | kP9LargeFile, 0640, &q), 0);
  EXPECT_EQ(q.type, 0);
  uint32_t n = 0;
  ASSERT_EQ(c.write(1, 0, "payload", &n), 0);
  EXPECT_EQ(n, 7u);
  EXPECT_EQ(s.get("new"), "payload");
  const struct stat st = host_stat(s.host("new"));
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0640 & ~current_umask());
  EXPECT_EQ(st.st_uid, ::geteuid());
  // The fid is now the open file.
  std::string d;
  ASSERT_EQ(c.read(1, 3, 100, &d), 0);
  EXPECT_EQ(d, "load");
  P9Attr a;
  ASSERT_EQ(c.getattr(1, &a), 0);
  EXPECT_EQ(a.qid, q);
  EXPECT_EQ(a.size, 7u);
  // The root fid it was cloned from is untouched.
  ASSERT_EQ(c.getattr(kRoot, &a), 0);
  EXPECT_EQ(a.qid.type, kQidDir);
}

TEST_F(P9Server, LcreateDropsSetIdBits) {
  ASSERT_EQ(c.walk(kRoot, 1, {}), 0);
  ASSERT_EQ(c.lcreate(1, "suid", O_WRONLY, 06755), 0);
  const struct stat st = host_stat(s.host("suid"));
  EXPECT_EQ(st.st_mode & 07000, 0u);
  EXPECT_EQ(st.st_mode & 0777, 0755 & ~current_umask());
}

TEST_F(P9Server, LcreateRefusals) {
  s.put("f", "keep");
  ASSERT_EQ(c.walk(kRoot, 1, {}), 0);
  EXPECT_EQ(c.lcreate(1, "f", O_RDWR | O_TRUNC, 0644), EEXIST);
  EXPECT_EQ(s.get("f"), "keep");
  ASSERT_EQ(c.walk(kRoot, 2, {"f"}), 0);
  EXPECT_EQ(c.lcreate(2, "g", O_RDWR, 0644), ENOTDIR);  // a file fid
  ASSERT_EQ(c.lopen(1, O_RDONLY), 0);
  EXPECT_EQ(c.lcreate(1, "g", O_RDWR, 0644), ENOTDIR);  // an open directory
  EXPECT_FALSE(std::filesystem::exists(s.host("g")));
}

}  // namespace
}  // namespace vmrun::devices::p9
