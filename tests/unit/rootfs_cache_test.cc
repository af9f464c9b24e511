// vmrun-rootfs's cache (tools/rootfs/cache.h): entries appear whole, a
// second builder uses the first one's entry, least recently used entries
// go first, and leftovers of dead builders are swept.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "tools/rootfs/cache.h"
#include "tools/rootfs/sha256.h"

namespace vmrun::rootfs {
namespace {

class RootfsCache : public ::testing::Test {
 protected:
  void SetUp() override {
    char t[] = "/tmp/rootfs-cache-test.XXXXXX";
    dir_ = mkdtemp(t);
    auto c = Cache::open(dir_ + "/cache");
    ASSERT_TRUE(c.ok()) << c.error().message();
    cache_.emplace(std::move(c).value());
  }
  void TearDown() override { remove_tree(dir_); }

  // A finished entry of `bytes` bytes, last used `age` seconds ago.
  std::string add(const std::string& name, size_t bytes, time_t age) {
    const std::string hex = sha256_hex(name);
    auto b = cache_->begin_build();
    EXPECT_TRUE(b.ok());
    std::ofstream(b->entry() + "/rootfs.ext4") << std::string(bytes, 'x');
    std::ofstream(b->entry() + "/config") << "arch amd64\n";
    std::ofstream(b->entry() + "/used");
    auto p = cache_->publish(*b, hex);
    EXPECT_TRUE(p.ok());
    set_used(hex, time(nullptr) - age);
    return hex;
  }
  void set_used(const std::string& hex, time_t when) {
    struct timespec t[2] = {{when, 0}, {when, 0}};
    utimensat(AT_FDCWD, (cache_->entry_path(hex) + "/used").c_str(), t, 0);
  }
  bool exists(const std::string& hex) {
    return access(cache_->entry_path(hex).c_str(), F_OK) == 0;
  }

  std::string dir_;
  std::optional<Cache> cache_;
};

TEST_F(RootfsCache, FindAndRememberAnInput) {
  EXPECT_FALSE(cache_->find(sha256_hex("a")));
  const std::string hex = add("a", 10, 0);
  ASSERT_TRUE(cache_->find(hex));
  EXPECT_EQ(*cache_->find(hex), dir_ + "/cache/" + hex);
  EXPECT_FALSE(cache_->find_input("key"));
  ASSERT_TRUE(cache_->remember_input("key", hex).ok());
  EXPECT_EQ(cache_->find_input("key"), cache_->find(hex));
}

TEST_F(RootfsCache, AHitMarksTheEntryUsed) {
  const std::string hex = add("a", 10, 3600);
  ASSERT_TRUE(cache_->find(hex));
  struct stat st;
  ASSERT_EQ(stat((cache_->entry_path(hex) + "/used").c_str(), &st), 0);
  EXPECT_GE(st.st_mtime, time(nullptr) - 5);
}

TEST_F(RootfsCache, ASecondBuilderUsesTheFirstOnesEntry) {
  const std::string hex = sha256_hex("same");
  auto b1 = cache_->begin_build();
  auto b2 = cache_->begin_build();
  ASSERT_TRUE(b1.ok() && b2.ok());
  std::ofstream(b1->entry() + "/rootfs.ext4") << "one";
  std::ofstream(b2->entry() + "/rootfs.ext4") << "two";
  auto p1 = cache_->publish(*b1, hex);
  auto p2 = cache_->publish(*b2, hex);
  ASSERT_TRUE(p1.ok() && p2.ok()) << (p2.ok() ? "" : p2.error().message());
  EXPECT_EQ(*p1, *p2);
  std::ifstream in(*p1 + "/rootfs.ext4");
  std::string got;
  in >> got;
  EXPECT_EQ(got, "one");
}

TEST_F(RootfsCache, BuildDirsGoAway) {
  std::string path;
  {
    auto b = cache_->begin_build();
    ASSERT_TRUE(b.ok());
    path = b->path();
    std::ofstream(b->entry() + "/rootfs.ext4") << "partial";
  }
  EXPECT_NE(access(path.c_str(), F_OK), 0);
}

TEST_F(RootfsCache, StaleBuildsOfDeadProcessesAreSwept) {
  const std::string stale = dir_ + "/cache/tmp/build.dead";
  ASSERT_EQ(mkdir(stale.c_str(), 0755), 0);
  std::ofstream(stale + "/x") << "left over";
  struct timespec old[2] = {{time(nullptr) - 3600, 0},
                            {time(nullptr) - 3600, 0}};
  utimensat(AT_FDCWD, stale.c_str(), old, 0);
  const std::string fresh = dir_ + "/cache/tmp/build.starting";
  ASSERT_EQ(mkdir(fresh.c_str(), 0755), 0);
  auto b = cache_->begin_build();
  ASSERT_TRUE(b.ok());
  EXPECT_NE(access(stale.c_str(), F_OK), 0);
  EXPECT_EQ(access(fresh.c_str(), F_OK), 0);  // may be a builder just starting
}

TEST_F(RootfsCache, EvictsLeastRecentlyUsedFirstButNotTheNewEntry) {
  const std::string oldest = add("oldest", 100000, 7200);
  const std::string older = add("older", 100000, 3600);
  const std::string recent = add("recent", 100000, 10);  // just handed out
  const std::string newest = add("newest", 100000, 3 * 3600);
  ASSERT_TRUE(cache_->remember_input("k-oldest", oldest).ok());
  cache_->evict(250000, newest);
  EXPECT_TRUE(exists(newest));
  EXPECT_FALSE(exists(oldest));
  EXPECT_FALSE(exists(older));
  EXPECT_TRUE(exists(recent));
  EXPECT_FALSE(cache_->find_input("k-oldest"));
  EXPECT_NE(access((dir_ + "/cache/index/k-oldest").c_str(), F_OK), 0);
}

TEST_F(RootfsCache, InputKeyFollowsTheFile) {
  const std::string f = dir_ + "/img.tar";
  std::ofstream(f) << "abc";
  auto k1 = input_key(f, "");
  auto k2 = input_key(f, "a:1");
  ASSERT_TRUE(k1.ok() && k2.ok());
  EXPECT_NE(*k1, *k2);
  EXPECT_EQ(input_key(f, "").value(), *k1);
  std::ofstream(f) << "abcd";
  EXPECT_NE(input_key(f, "").value(), *k1);
  EXPECT_FALSE(input_key(dir_ + "/missing", "").ok());
}

}  // namespace
}  // namespace vmrun::rootfs
