// p9::Server against a hostile guest: nothing outside the share may be
// reached or changed. Each test ends by comparing a snapshot of everything
// beside the share (tmp/outside/secret and tmp itself) with the one taken
// before: every refusal must be an Rlerror, and nothing outside may move.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
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

class P9ServerHostile : public P9ShareTest {
 protected:
  void SetUp() override {
    // Ways out, planted on the host: absolute and relative symlinks to the
    // outside directory and file, and one to a name not there yet.
    ASSERT_EQ(::symlink(s.outside.c_str(), s.host("abs").c_str()), 0);
    ASSERT_EQ(::symlink("../outside", s.host("rel").c_str()), 0);
    ASSERT_EQ(
        ::symlink((s.outside + "/secret").c_str(), s.host("absfile").c_str()),
        0);
    ASSERT_EQ(::symlink("../outside/planted", s.host("dangling").c_str()), 0);
    ASSERT_EQ(::mkdir(s.host("d").c_str(), 0755), 0);
    s.put("d/f", "inside");
    ASSERT_EQ(c.attach(kRoot2, &root_qid), 0);
    before = s.outside_snapshot();
  }
  void TearDown() override {
    EXPECT_EQ(s.outside_snapshot(), before)
        << "something outside the share changed";
    EXPECT_FALSE(host_exists(s.outside + "/planted"));
  }

  static constexpr uint32_t kRoot2 = 100;  // a second attach
  P9Qid root_qid;
  std::string before;
};

TEST_F(P9ServerHostile, DotDotNeverLeavesTheRoot) {
  std::vector<P9Qid> q;
  ASSERT_EQ(c.walk(kRoot, 1, {".."}, &q), 0);
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(q[0], root_qid);
  ASSERT_EQ(c.walk(kRoot, 2, {"..", "..", "..", "d", "..", ".."}, &q), 0);
  ASSERT_EQ(q.size(), 6u);
  for (size_t i : {0u, 1u, 2u, 4u, 5u}) EXPECT_EQ(q[i], root_qid) << i;
  ASSERT_EQ(c.walk(kRoot, 3, {"..", "outside"}, &q), 0);  // not the outside's
  EXPECT_EQ(q.size(), 1u);
  EXPECT_EQ(c.getattr(3, nullptr), EBADF);
  // What ".." gave is the share: things made there land inside.
  ASSERT_EQ(c.lcreate(2, "made", O_WRONLY, 0644), 0);
  EXPECT_TRUE(host_exists(s.host("made")));
  ASSERT_EQ(c.mkdir(1, "dir", 0755), 0);
  EXPECT_TRUE(host_exists(s.host("dir")));
  // A ".." of a subdirectory is its parent.
  std::vector<P9Qid> sub;
  ASSERT_EQ(c.walk(kRoot, 4, {"d", "..", "d", "f"}, &sub), 0);
  ASSERT_EQ(sub.size(), 4u);
  EXPECT_EQ(sub[1], root_qid);
  EXPECT_EQ(sub[0], sub[2]);
}

TEST_F(P9ServerHostile, SymlinksAreNeverFollowed) {
  for (const char* link : {"abs", "rel", "absfile", "dangling"}) {
    std::vector<P9Qid> q;
    ASSERT_EQ(c.walk(kRoot, 1, {link}, &q), 0) << link;
    EXPECT_EQ(q[0].type, kQidSymlink) << link;
    P9Attr a;
    ASSERT_EQ(c.getattr(1, &a), 0);
    EXPECT_TRUE(S_ISLNK(a.mode)) << link;
    EXPECT_NE(c.lopen(1, O_RDONLY), 0) << link;
    EXPECT_NE(c.lopen(1, O_RDWR | O_TRUNC), 0) << link;
    ASSERT_EQ(c.clunk(1), 0);
    // Through the link: a partial walk that makes no fid.
    ASSERT_EQ(c.walk(kRoot, 2, {link, "secret"}, &q), 0) << link;
    EXPECT_EQ(q.size(), 1u) << link;
    ASSERT_EQ(c.walk(kRoot, 2, {"d", "..", link, ".."}, &q), 0) << link;
    EXPECT_EQ(q.size(), 3u) << link;
    EXPECT_EQ(c.getattr(2, nullptr), EBADF);
  }
}

TEST_F(P9ServerHostile, SymlinkFidIsNoDirectory) {
  ASSERT_EQ(c.walk(kRoot, 1, {"abs"}), 0);
  EXPECT_NE(c.lcreate(1, "planted", O_RDWR, 0644), 0);
  ASSERT_EQ(c.walk(kRoot, 2, {"abs"}), 0);
  EXPECT_NE(c.mkdir(2, "planted", 0755), 0);
  EXPECT_NE(c.symlink(2, "planted", "x"), 0);
  EXPECT_NE(c.mknod(2, "planted", S_IFIFO | 0644, 0, 0), 0);
  EXPECT_NE(c.unlinkat(2, "secret", 0), 0);
  EXPECT_NE(c.renameat(2, "secret", kRoot, "stolen"), 0);
  EXPECT_NE(c.renameat(kRoot, "d", 2, "planted"), 0);
  ASSERT_EQ(c.walk(kRoot, 3, {"d", "f"}), 0);
  EXPECT_NE(c.rename(3, 2, "planted"), 0);
  EXPECT_NE(c.link(2, 3, "planted"), 0);
  EXPECT_NE(c.lopen(2, O_RDONLY | O_DIRECTORY), 0);
  EXPECT_FALSE(host_exists(s.host("stolen")));
  EXPECT_EQ(s.get("d/f"), "inside");
}

TEST_F(P9ServerHostile, SymlinkFidAttributesStayOnTheLink) {
  ASSERT_EQ(c.walk(kRoot, 1, {"absfile"}), 0);
  P9SetAttr sa;
  sa.valid = kP9SetMode;
  sa.mode = 0777;
  (void)c.setattr(1, sa);
  sa.valid = kP9SetSize;
  sa.size = 0;
  (void)c.setattr(1, sa);
  sa.valid = kP9SetMtime | kP9SetMtimeSet | kP9SetAtime | kP9SetAtimeSet;
  sa.mtime_sec = sa.atime_sec = 1;
  (void)c.setattr(1, sa);
  EXPECT_NE(c.fsync(1), 0);
  uint8_t st;
  EXPECT_NE(c.lock(1, kP9WrLck, 0, 0, &st), 0);
  // A hard link of the link is (at most) another link, never the secret.
  if (c.link(kRoot, 1, "hard") == 0) {
    struct stat h {};
    ASSERT_EQ(::lstat(s.host("hard").c_str(), &h), 0);
    EXPECT_TRUE(S_ISLNK(h.st_mode));
  }
  std::string target;
  ASSERT_EQ(c.readlink(1, &target), 0);
  EXPECT_EQ(target, s.outside + "/secret");
}

TEST_F(P9ServerHostile, BadNamesAreRefusedEverywhere) {
  const std::string bad[] = {"",
                             ".",
                             "..",
                             "a/b",
                             "../outside/planted",
                             s.outside + "/planted",
                             "d/f",
                             std::string("planted\0x", 9),
                             std::string(1, '\0'),
                             std::string(256, 'n')};
  ASSERT_EQ(c.walk(kRoot, 1, {"d", "f"}), 0);
  ASSERT_EQ(c.walk(kRoot, 2, {"d", "f"}), 0);
  ASSERT_EQ(c.walk(kRoot, 3, {}), 0);
  for (const auto& name : bad) {
    SCOPED_TRACE("name \"" + name + "\" size " + std::to_string(name.size()));
    EXPECT_NE(c.lcreate(3, name, O_RDWR, 0644), 0);
    EXPECT_NE(c.mkdir(kRoot, name, 0755), 0);
    EXPECT_NE(c.symlink(kRoot, name, "target"), 0);
    EXPECT_NE(c.mknod(kRoot, name, S_IFIFO | 0644, 0, 0), 0);
    EXPECT_NE(c.link(kRoot, 1, name), 0);
    EXPECT_NE(c.rename(2, kRoot, name), 0);
    EXPECT_NE(c.renameat(kRoot, "d", kRoot, name), 0);
    EXPECT_NE(c.renameat(kRoot, name, kRoot, "stolen"), 0);
    EXPECT_NE(c.unlinkat(kRoot, name, 0), 0);
    EXPECT_NE(c.unlinkat(kRoot, name, kP9AtRemoveDir), 0);
    if (name != "..") {
      EXPECT_NE(c.walk(kRoot, 4, {name}), 0);
    }
  }
  EXPECT_EQ(s.server->fid_count(), 5u);
  // The share holds only what SetUp put there.
  size_t entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(s.share)) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 5u);
  EXPECT_EQ(s.get("d/f"), "inside");
  EXPECT_TRUE(std::filesystem::is_directory(s.host("d")));
}

TEST_F(P9ServerHostile, CreatingOverALinkNeverWritesItsTarget) {
  // "dangling" names ../outside/planted: creating any of these must fail,
  // never make the target.
  ASSERT_EQ(c.walk(kRoot, 1, {}), 0);
  EXPECT_EQ(c.lcreate(1, "dangling", O_RDWR, 0644), EEXIST);
  EXPECT_EQ(c.lcreate(1, "absfile", O_RDWR | O_TRUNC, 0644), EEXIST);
  EXPECT_EQ(c.mkdir(kRoot, "dangling", 0755), EEXIST);
  EXPECT_EQ(c.mknod(kRoot, "dangling", S_IFIFO | 0644, 0, 0), EEXIST);
  EXPECT_EQ(c.symlink(kRoot, "dangling", "x"), EEXIST);
  ASSERT_EQ(c.walk(kRoot, 2, {"d", "f"}), 0);
  EXPECT_EQ(c.link(kRoot, 2, "dangling"), EEXIST);
  // Renaming onto a link replaces the link itself.
  s.put("f1", "one");
  s.put("f2", "two");
  ASSERT_EQ(c.renameat(kRoot, "f1", kRoot, "abs"), 0);
  EXPECT_FALSE(std::filesystem::is_symlink(s.host("abs")));
  EXPECT_EQ(s.get("abs"), "one");
  ASSERT_EQ(c.walk(kRoot, 4, {"f2"}), 0);
  ASSERT_EQ(c.rename(4, kRoot, "rel"), 0);
  EXPECT_EQ(s.get("rel"), "two");
  // Removing a link removes the link.
  ASSERT_EQ(c.unlinkat(kRoot, "absfile", 0), 0);
  EXPECT_EQ(c.unlinkat(kRoot, "dangling", kP9AtRemoveDir), ENOTDIR);
  ASSERT_EQ(c.walk(kRoot, 3, {"dangling"}), 0);
  ASSERT_EQ(c.remove(3), 0);
  EXPECT_FALSE(host_exists(s.host("dangling")));
}

// The host swaps a symlink to the outside in for a directory the guest
// holds a fid of. The fid keeps naming the old directory: whatever the
// guest makes through it lands there (or fails), never outside.
TEST_F(P9ServerHostile, DirectorySwappedForASymlinkOnTheHost) {
  ASSERT_EQ(::mkdir(s.host("moved").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(s.host("gone").c_str(), 0755), 0);
  ASSERT_EQ(c.walk(kRoot, 1, {"moved"}), 0);
  ASSERT_EQ(c.walk(kRoot, 2, {"moved"}), 0);
  ASSERT_EQ(c.walk(kRoot, 3, {"gone"}), 0);
  ASSERT_EQ(::rename(s.host("moved").c_str(), s.host("moved.old").c_str()), 0);
  ASSERT_EQ(::symlink(s.outside.c_str(), s.host("moved").c_str()), 0);
  ASSERT_EQ(::rmdir(s.host("gone").c_str()), 0);
  ASSERT_EQ(::symlink("../outside", s.host("gone").c_str()), 0);

  ASSERT_EQ(c.lcreate(1, "planted", O_RDWR, 0644), 0);
  ASSERT_EQ(c.write(1, 0, "x"), 0);
  EXPECT_EQ(s.get("moved.old/planted"), "x");
  EXPECT_EQ(c.mkdir(2, "planted-dir", 0755), 0);
  EXPECT_TRUE(std::filesystem::is_directory(s.host("moved.old/planted-dir")));
  EXPECT_EQ(c.symlink(2, "planted-link", "x"), 0);
  EXPECT_EQ(c.mknod(2, "planted-fifo", S_IFIFO | 0600, 0, 0), 0);
  EXPECT_TRUE(host_exists(s.host("moved.old/planted-fifo")));
  EXPECT_EQ(c.renameat(2, "planted-fifo", 2, "planted-fifo2"), 0);
  EXPECT_TRUE(host_exists(s.host("moved.old/planted-fifo2")));
  std::vector<P9Qid> q;
  ASSERT_EQ(c.walk(2, 4, {"planted"}, &q), 0);

  // The removed directory takes nothing new.
  EXPECT_NE(c.lcreate(3, "planted", O_RDWR, 0644), 0);
  EXPECT_NE(c.mkdir(3, "planted", 0755), 0);
  EXPECT_NE(c.symlink(3, "planted", "x"), 0);
  EXPECT_NE(c.mknod(3, "planted", S_IFIFO | 0600, 0, 0), 0);
  ASSERT_EQ(c.walk(kRoot, 5, {"d", "f"}), 0);
  EXPECT_NE(c.link(3, 5, "planted"), 0);
  EXPECT_NE(c.renameat(kRoot, "d", 3, "planted"), 0);
  EXPECT_TRUE(host_exists(s.host("d/f")));
  ASSERT_EQ(c.walk(3, 6, {".."}, &q), 0);  // up from it: still the share
  EXPECT_EQ(q[0], root_qid);

  // A fresh walk meets the symlink and stops there.
  ASSERT_EQ(c.walk(kRoot, 7, {"moved", "secret"}, &q), 0);
  EXPECT_EQ(q.size(), 1u);
  ASSERT_EQ(c.walk(kRoot, 7, {"gone", "secret"}, &q), 0);
  EXPECT_EQ(q.size(), 1u);
}

TEST_F(P9ServerHostile, NoNameReachesAnOutsideFile) {
  // The only way to a file is a walk; try every spelling of the secret.
  const std::vector<std::vector<std::string>> paths = {
      {"..", "outside", "secret"},
      {"../outside/secret"},
      {s.outside + "/secret"},
      {"rel", "secret"},
      {"abs", "secret"},
      {"d", "..", "..", "outside"},
      {"absfile", "."},
      {"/"},
      {"", "outside"}};
  for (const auto& p : paths) {
    std::vector<P9Qid> q;
    const int err = c.walk(kRoot, 1, p, &q);
    EXPECT_TRUE(err != 0 || q.size() < p.size()) << p[0];
    EXPECT_EQ(c.getattr(1, nullptr), EBADF) << p[0];
  }
  // So a hard link of it cannot be asked for.
  EXPECT_NE(c.link(kRoot, 1, "stolen"), 0);
  EXPECT_NE(c.link(kRoot, kRoot, "stolen"), 0);
  EXPECT_FALSE(host_exists(s.host("stolen")));
}

TEST_F(P9ServerHostile, HostDeviceNodesAreNeverOpened) {
  // Root (as these tests run) can plant a device node in the share.
  if (::mknod(s.host("null").c_str(), S_IFCHR | 0666, makedev(1, 3)) != 0) {
    GTEST_SKIP() << "cannot make a device node here";
  }
  ASSERT_EQ(::mkfifo(s.host("fifo").c_str(), 0666), 0);
  for (const char* node : {"null", "fifo"}) {
    ASSERT_EQ(c.walk(kRoot, 1, {node}), 0);
    EXPECT_EQ(c.lopen(1, O_RDONLY), EPERM) << node;
    EXPECT_EQ(c.lopen(1, O_WRONLY), EPERM) << node;
    P9SetAttr sa;
    sa.valid = kP9SetSize;
    EXPECT_NE(c.setattr(1, sa), 0) << node;
    ASSERT_EQ(c.clunk(1), 0);
  }
}

// Each fid holds descriptors; a guest walking to many files runs vmrun out
// of them well before Server::kMaxFids. That must end in Rlerrors, and
// clunking must bring the server back. (In a child: it lowers the limit.)
TEST_F(P9ServerHostile, RunningOutOfDescriptorsIsAnError) {
  for (int i = 0; i < 200; ++i) s.put("many-" + std::to_string(i), "");
  EXPECT_EXIT(
      {
        rlimit lim{};
        ::getrlimit(RLIMIT_NOFILE, &lim);
        const int probe = ::dup(0);
        lim.rlim_cur = static_cast<rlim_t>(probe + 40);
        ::close(probe);
        if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) std::_Exit(10);
        uint32_t id = 1;
        int err = 0;
        for (; id <= 200 && err == 0; ++id)
          err = c.walk(kRoot, id, {"many-" + std::to_string(id - 1)});
        if (err != EMFILE) std::_Exit(11);
        if (c.attach(500) == 0 || c.lopen(1, O_RDONLY) == 0) std::_Exit(12);
        if (c.lcreate(kRoot2, "more", O_RDWR, 0644) == 0 ||
            host_exists(s.host("more"))) {
          std::_Exit(13);
        }
        for (uint32_t i = 1; i < 10; ++i) {
          if (c.clunk(i) != 0) std::_Exit(14);
        }
        if (c.walk(kRoot, 1, {"d", "f"}) != 0 || c.lopen(1, O_RDONLY) != 0)
          std::_Exit(15);
        std::string d;
        if (c.read(1, 0, 100, &d) != 0 || d != "inside") std::_Exit(16);
        std::_Exit(0);
      },
      ::testing::ExitedWithCode(0), "");
}

// When the host moves a directory out of the share while the guest holds
// a fid of it (`mv share/build /tmp/`), that fid's ".." must not climb the
// host's tree: the walk fails instead of reaching tmp/outside/secret.
TEST_F(P9ServerHostile, DotDotOfADirectoryMovedOutStaysConfined) {
  ASSERT_EQ(::mkdir(s.host("d/sub").c_str(), 0755), 0);
  ASSERT_EQ(c.walk(kRoot, 1, {"d", "sub"}), 0);
  ASSERT_EQ(::rename(s.host("d/sub").c_str(), (s.tmp() + "/moved").c_str()), 0);
  before = s.outside_snapshot();  // the host's own move is no breach
  std::vector<P9Qid> q;
  const int rc = c.walk(1, 2, {"..", "outside", "secret"}, &q);
  EXPECT_TRUE(rc != 0 || q.size() < 3u) << "walked out of the share";
  if (q.size() == 3) {
    ASSERT_EQ(c.lopen(2, O_RDWR), 0);
    std::string d;
    ASSERT_EQ(c.read(2, 0, 100, &d), 0);
    EXPECT_NE(d, "secret");
    ASSERT_EQ(c.write(2, 0, "PWNED!"), 0);
  }
}

}  // namespace
}  // namespace vmrun::devices::p9
