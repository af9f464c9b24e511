// p9::Server's directory operations, as v9fs uses them: readdir across many
// calls, mkdir, symlink, mknod, link, rename(at), unlinkat, remove, and the
// open-unlink-fstat pattern.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "devices/p9/server.h"
#include "tests/support/p9_client.h"
#include "tests/support/p9_fixture.h"

namespace vmrun::devices::p9 {
namespace {

using namespace test_support;
constexpr uint32_t kRoot = P9Share::kRoot;

class P9ServerDir : public P9ShareTest {
 protected:
  // Lists the open directory fid `fid` to the end the way v9fs does: each
  // call continues from the last entry's offset. Counts each name's
  // appearances; *calls gets the number of Treaddir sent.
  std::map<std::string, int> list(uint32_t fid, uint32_t count,
                                  int* calls = nullptr,
                                  std::vector<P9DirEntry>* all = nullptr) {
    std::map<std::string, int> names;
    uint64_t offset = 0;
    for (int n = 0;; ++n) {
      std::vector<P9DirEntry> got;
      uint32_t bytes = 0;
      EXPECT_EQ(c.readdir(fid, offset, count, &got, &bytes), 0);
      EXPECT_LE(bytes, count);
      if (got.empty() || n > 100000) {
        if (calls) *calls = n;
        return names;
      }
      for (const auto& e : got) {
        ++names[e.name];
        if (all) all->push_back(e);
      }
      offset = got.back().offset;
    }
  }
};

TEST_F(P9ServerDir, ReaddirListsThousandsOfEntriesAcrossCalls) {
  ASSERT_EQ(::mkdir(s.host("big").c_str(), 0755), 0);
  for (int i = 0; i < 3000; ++i) s.put("big/file-" + std::to_string(i), "");
  ASSERT_EQ(c.walk(kRoot, 1, {"big"}), 0);
  ASSERT_EQ(c.lopen(1, O_RDONLY | O_DIRECTORY), 0);
  int calls = 0;
  auto names = list(1, 8192 - 24, &calls);  // as v9fs with msize 8192
  EXPECT_GT(calls, 5);
  EXPECT_EQ(names.size(), 3002u);
  EXPECT_EQ(names["."], 1);
  EXPECT_EQ(names[".."], 1);
  for (int i = 0; i < 3000; ++i) {
    EXPECT_EQ(names["file-" + std::to_string(i)], 1) << i;
  }
  // The same listing with a small count: every reply within it.
  auto again = list(1, 100, &calls);
  EXPECT_EQ(again, names);
  EXPECT_GT(calls, 1000);
  // And with a small room for the reply rather than a small count.
  c.max_reply = 300;
  auto third = list(1, 65536, &calls);
  EXPECT_EQ(third, names);
  EXPECT_LE(c.last.size(), 300u);
}

TEST_F(P9ServerDir, ReaddirEntries) {
  ASSERT_EQ(::mkdir(s.host("d").c_str(), 0755), 0);
  s.put("d/file", "x");
  ASSERT_EQ(::mkdir(s.host("d/sub").c_str(), 0755), 0);
  ASSERT_EQ(::symlink("/nowhere", s.host("d/link").c_str()), 0);
  ASSERT_EQ(c.walk(kRoot, 1, {"d"}), 0);
  ASSERT_EQ(c.lopen(1, O_RDONLY), 0);
  std::vector<P9DirEntry> all;
  auto names = list(1, 8192, nullptr, &all);
  EXPECT_EQ(names.size(), 5u);
  for (const auto& e : all) {
    if (e.name == "file") {
      EXPECT_EQ(e.type, DT_REG);
      EXPECT_EQ(e.qid.type, 0);
    } else if (e.name == "sub") {
      EXPECT_EQ(e.type, DT_DIR);
      EXPECT_EQ(e.qid.type, kQidDir);
    } else if (e.name == "link") {
      EXPECT_EQ(e.type, DT_LNK);
      EXPECT_EQ(e.qid.type, kQidSymlink);
    }
  }
  // A count too small for any entry: an empty reply, never a partial entry.
  std::vector<P9DirEntry> none;
  uint32_t bytes = 99;
  ASSERT_EQ(c.readdir(1, 0, 10, &none, &bytes), 0);
  EXPECT_EQ(bytes, 0u);
  // Only an open directory lists.
  ASSERT_EQ(c.walk(kRoot, 2, {"d"}), 0);
  EXPECT_EQ(c.readdir(2, 0, 8192, nullptr), EBADF);
  ASSERT_EQ(c.walk(kRoot, 3, {"d", "file"}), 0);
  ASSERT_EQ(c.lopen(3, O_RDONLY), 0);
  EXPECT_EQ(c.readdir(3, 0, 8192, nullptr), EBADF);
}

// Rreaddir's qids are made like walk's and getattr's, so in the guest
// readdir's d_ino equals stat's st_ino (ls -i, find -inum).
TEST_F(P9ServerDir, ReaddirQidMatchesWalkQid) {
  s.put("f", "x");
  std::vector<P9Qid> q;
  ASSERT_EQ(c.walk(kRoot, 1, {"f"}, &q), 0);
  ASSERT_EQ(c.walk(kRoot, 2, {}), 0);
  ASSERT_EQ(c.lopen(2, O_RDONLY), 0);
  std::vector<P9DirEntry> all;
  list(2, 8192, nullptr, &all);
  bool seen = false;
  for (const auto& e : all) {
    if (e.name != "f") continue;
    seen = true;
    EXPECT_EQ(e.qid.path, q[0].path);
  }
  EXPECT_TRUE(seen);
}

TEST_F(P9ServerDir, Mkdir) {
  P9Qid q;
  ASSERT_EQ(c.mkdir(kRoot, "d", 0750, &q), 0);
  EXPECT_EQ(q.type, kQidDir);
  struct stat st = host_stat(s.host("d"));
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0750 & ~current_umask());
  std::vector<P9Qid> walked;
  ASSERT_EQ(c.walk(kRoot, 1, {"d"}, &walked), 0);
  EXPECT_EQ(walked[0], q);
  ASSERT_EQ(c.mkdir(1, "inner", S_IFDIR | 02755), 0);  // set-group-ID dropped
  st = host_stat(s.host("d/inner"));
  EXPECT_EQ(st.st_mode & 07000, 0u);
  EXPECT_EQ(c.mkdir(kRoot, "d", 0755), EEXIST);
  s.put("f", "");
  ASSERT_EQ(c.walk(kRoot, 2, {"f"}), 0);
  EXPECT_EQ(c.mkdir(2, "x", 0755), ENOTDIR);
}

TEST_F(P9ServerDir, SymlinkStoresTheTargetVerbatim) {
  const std::string targets[] = {"/etc/passwd", "../../../outside", "a//b/./c/",
                                 " sp ace", std::string(4000, 'y')};
  int i = 0;
  for (const auto& t : targets) {
    const std::string name = "l" + std::to_string(i++);
    P9Qid q;
    ASSERT_EQ(c.symlink(kRoot, name, t, &q), 0) << t;
    EXPECT_EQ(q.type, kQidSymlink);
    char buf[8192];
    const ssize_t n = ::readlink(s.host(name).c_str(), buf, sizeof buf);
    ASSERT_GT(n, 0);
    EXPECT_EQ(std::string(buf, static_cast<size_t>(n)), t);
    ASSERT_EQ(c.walk(kRoot, 10, {name}), 0);
    std::string got;
    ASSERT_EQ(c.readlink(10, &got), 0);
    EXPECT_EQ(got, t);
    ASSERT_EQ(c.clunk(10), 0);
  }
  EXPECT_EQ(c.symlink(kRoot, "l0", "x"), EEXIST);
  EXPECT_EQ(c.symlink(kRoot, "empty", ""), EINVAL);
  EXPECT_EQ(c.symlink(kRoot, "nul", std::string("a\0b", 3)), EINVAL);
  EXPECT_FALSE(host_exists(s.host("empty")));
  EXPECT_FALSE(host_exists(s.host("nul")));
}

TEST_F(P9ServerDir, MknodFifoButNoDevices) {
  P9Qid q;
  ASSERT_EQ(c.mknod(kRoot, "fifo", S_IFIFO | 0640, 0, 0, &q), 0);
  EXPECT_TRUE(S_ISFIFO(host_stat(s.host("fifo")).st_mode));
  EXPECT_EQ(c.mknod(kRoot, "sock", S_IFSOCK | 0640, 0, 0), 0);
  EXPECT_TRUE(S_ISSOCK(host_stat(s.host("sock")).st_mode));
  // Opening a FIFO would block the server: refused, at once.
  ASSERT_EQ(c.walk(kRoot, 1, {"fifo"}), 0);
  EXPECT_EQ(c.lopen(1, O_RDONLY), EPERM);
  EXPECT_EQ(c.lopen(1, O_WRONLY), EPERM);

  EXPECT_EQ(c.mknod(kRoot, "null", S_IFCHR | 0666, 1, 3), EPERM);
  EXPECT_EQ(c.mknod(kRoot, "disk", S_IFBLK | 0666, 8, 0), EPERM);
  EXPECT_EQ(c.mknod(kRoot, "dir", S_IFDIR | 0755, 0, 0), EPERM);
  EXPECT_EQ(c.mknod(kRoot, "none", 0644, 1, 3), EPERM);
  for (const char* n : {"null", "disk", "dir", "none"})
    EXPECT_FALSE(host_exists(s.host(n)));
}

TEST_F(P9ServerDir, HardLink) {
  s.put("f", "shared");
  ASSERT_EQ(c.walk(kRoot, 1, {"f"}), 0);
  ASSERT_EQ(c.link(kRoot, 1, "hard"), 0);
  EXPECT_EQ(host_stat(s.host("f")).st_nlink, 2u);
  EXPECT_EQ(host_stat(s.host("hard")).st_ino, host_stat(s.host("f")).st_ino);
  P9Attr a;
  ASSERT_EQ(c.getattr(1, &a), 0);
  EXPECT_EQ(a.nlink, 2u);
  EXPECT_EQ(s.get("hard"), "shared");
  EXPECT_EQ(c.link(kRoot, 1, "hard"), EEXIST);
  ASSERT_EQ(c.mkdir(kRoot, "d", 0755), 0);
  ASSERT_EQ(c.walk(kRoot, 2, {"d"}), 0);
  EXPECT_EQ(c.link(kRoot, 2, "dirlink"), EPERM);  // no directory hard links
  EXPECT_EQ(c.link(1, 1, "x"), ENOTDIR);          // into a file
  ASSERT_EQ(c.link(2, 1, "inner"), 0);
  EXPECT_EQ(host_stat(s.host("f")).st_nlink, 3u);
}

TEST_F(P9ServerDir, RenameatMovesAndFidsFollow) {
  s.put("a", "moving");
  ASSERT_EQ(c.mkdir(kRoot, "d", 0755), 0);
  ASSERT_EQ(c.walk(kRoot, 1, {"d"}), 0);
  ASSERT_EQ(c.walk(kRoot, 2, {"a"}), 0);  // walked from the root fid
  ASSERT_EQ(c.walk(kRoot, 3, {"a"}), 0);
  ASSERT_EQ(c.lopen(3, O_RDONLY), 0);
  ASSERT_EQ(c.renameat(kRoot, "a", 1, "b"), 0);
  EXPECT_FALSE(host_exists(s.host("a")));
  EXPECT_EQ(s.get("d/b"), "moving");
  std::string d;
  ASSERT_EQ(c.read(3, 0, 100, &d), 0);
  EXPECT_EQ(d, "moving");
  P9Attr a;
  ASSERT_EQ(c.getattr(2, &a), 0);
  EXPECT_EQ(a.size, 6u);
  // Tremove names the file by fid: it removes the moved file, wherever.
  s.put("a", "new file at the old name");
  ASSERT_EQ(c.remove(2), 0);
  EXPECT_FALSE(host_exists(s.host("d/b")));
  EXPECT_EQ(s.get("a"), "new file at the old name");
  EXPECT_EQ(c.renameat(kRoot, "missing", kRoot, "x"), ENOENT);
}

// Every fid of a renamed file follows it (v9fs walks from whichever fid it
// holds, so several fids of one file are usual): a later Tremove/Trename
// of any of them acts on the moved file, never on whatever took its old
// name.
TEST_F(P9ServerDir, RenameFollowsEveryFidOfTheMovedFile) {
  ASSERT_EQ(::mkdir(s.host("d").c_str(), 0755), 0);
  s.put("d/a", "moving");
  ASSERT_EQ(c.walk(kRoot, 1, {"d"}), 0);
  ASSERT_EQ(c.walk(kRoot, 2, {"d", "a"}), 0);  // its own descriptor for d
  ASSERT_EQ(c.renameat(1, "a", 1, "b"), 0);
  s.put("d/a", "unrelated");
  ASSERT_EQ(c.remove(2), 0);
  EXPECT_EQ(s.get("d/a"), "unrelated");
  EXPECT_FALSE(host_exists(s.host("d/b")));

  s.put("x", "moving");
  ASSERT_EQ(c.walk(kRoot, 3, {"x"}), 0);
  ASSERT_EQ(c.walk(kRoot, 4, {"x"}), 0);
  ASSERT_EQ(c.rename(3, kRoot, "y"), 0);
  s.put("x", "unrelated");
  ASSERT_EQ(c.remove(4), 0);
  EXPECT_EQ(s.get("x"), "unrelated");
  EXPECT_FALSE(host_exists(s.host("y")));
}

TEST_F(P9ServerDir, RenameByFid) {
  s.put("a", "by fid");
  ASSERT_EQ(c.mkdir(kRoot, "d", 0755), 0);
  ASSERT_EQ(c.walk(kRoot, 1, {"d"}), 0);
  ASSERT_EQ(c.walk(kRoot, 2, {"a"}), 0);
  ASSERT_EQ(c.walk(kRoot, 3, {"a"}), 0);
  ASSERT_EQ(c.lopen(3, O_RDONLY), 0);
  ASSERT_EQ(c.rename(2, 1, "b"), 0);
  EXPECT_FALSE(host_exists(s.host("a")));
  EXPECT_EQ(s.get("d/b"), "by fid");
  std::string d;
  ASSERT_EQ(c.read(3, 0, 100, &d), 0);
  EXPECT_EQ(d, "by fid");
  ASSERT_EQ(c.rename(2, kRoot, "c"), 0);  // again: the fid knows where it is
  EXPECT_EQ(s.get("c"), "by fid");
  ASSERT_EQ(c.remove(2), 0);
  EXPECT_FALSE(host_exists(s.host("c")));
  EXPECT_EQ(c.rename(kRoot, kRoot, "x"), EBUSY);  // the root has no parent
  // A directory moves with its contents.
  s.put("d/inside", "i");
  ASSERT_EQ(c.walk(kRoot, 4, {"d"}), 0);
  ASSERT_EQ(c.rename(4, kRoot, "e"), 0);
  EXPECT_EQ(s.get("e/inside"), "i");
}

TEST_F(P9ServerDir, Unlinkat) {
  s.put("f", "");
  ASSERT_EQ(::mkdir(s.host("d").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(s.host("full").c_str(), 0755), 0);
  s.put("full/x", "");
  EXPECT_EQ(c.unlinkat(kRoot, "d", 0), EISDIR);
  EXPECT_EQ(c.unlinkat(kRoot, "f", kP9AtRemoveDir), ENOTDIR);
  EXPECT_EQ(c.unlinkat(kRoot, "full", kP9AtRemoveDir), ENOTEMPTY);
  EXPECT_EQ(c.unlinkat(kRoot, "f", 0x100), EINVAL);  // unknown flags
  EXPECT_EQ(c.unlinkat(kRoot, "missing", 0), ENOENT);
  ASSERT_EQ(c.unlinkat(kRoot, "f", 0), 0);
  EXPECT_FALSE(host_exists(s.host("f")));
  ASSERT_EQ(c.unlinkat(kRoot, "d", kP9AtRemoveDir), 0);
  EXPECT_FALSE(host_exists(s.host("d")));
  ASSERT_EQ(c.walk(kRoot, 1, {"full"}), 0);
  ASSERT_EQ(c.unlinkat(1, "x", 0), 0);
  EXPECT_FALSE(host_exists(s.host("full/x")));
}

TEST_F(P9ServerDir, Remove) {
  s.put("f", "");
  ASSERT_EQ(::mkdir(s.host("d").c_str(), 0755), 0);
  ASSERT_EQ(c.walk(kRoot, 1, {"f"}), 0);
  ASSERT_EQ(c.walk(kRoot, 2, {"d"}), 0);
  ASSERT_EQ(c.remove(1), 0);
  EXPECT_FALSE(host_exists(s.host("f")));
  EXPECT_EQ(c.clunk(1), EBADF);  // Tremove clunks
  ASSERT_EQ(c.remove(2), 0);
  EXPECT_FALSE(host_exists(s.host("d")));
  // The root cannot go; its fid does.
  EXPECT_EQ(c.remove(kRoot), EBUSY);
  EXPECT_EQ(c.getattr(kRoot, nullptr), EBADF);
  EXPECT_TRUE(host_exists(s.share));
}

TEST_F(P9ServerDir, OpenUnlinkFstat) {
  s.put("tmp", "still here");
  ASSERT_EQ(c.walk(kRoot, 1, {"tmp"}), 0);
  ASSERT_EQ(c.lopen(1, O_RDWR), 0);
  ASSERT_EQ(c.unlinkat(kRoot, "tmp", 0), 0);
  EXPECT_FALSE(host_exists(s.host("tmp")));
  std::string d;
  ASSERT_EQ(c.read(1, 0, 100, &d), 0);
  EXPECT_EQ(d, "still here");
  P9Attr a;
  ASSERT_EQ(c.getattr(1, &a), 0);
  EXPECT_EQ(a.nlink, 0u);
  EXPECT_EQ(a.size, 10u);
  ASSERT_EQ(c.write(1, 10, "!"), 0);
  P9SetAttr sa;
  sa.valid = kP9SetSize;
  sa.size = 5;
  ASSERT_EQ(c.setattr(1, sa), 0);
  ASSERT_EQ(c.getattr(1, &a), 0);
  EXPECT_EQ(a.size, 5u);
  // Nothing can bring it back into the share.
  EXPECT_NE(c.link(kRoot, 1, "back"), 0);
  EXPECT_FALSE(host_exists(s.host("back")));
  EXPECT_EQ(c.clunk(1), 0);
}

}  // namespace
}  // namespace vmrun::devices::p9
