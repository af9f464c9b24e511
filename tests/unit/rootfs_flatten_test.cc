// vmrun-rootfs's layer merge and flattened tar (tools/rootfs/flatten.h,
// tar_writer.h): layers made with libarchive, the result read back.
#include <gtest/gtest.h>

#include "tests/unit/rootfs_flatten_helpers.h"

namespace vmrun::rootfs {
namespace {

using namespace testing;

TEST(RootfsFlatten, WhiteoutDeletesAFileAndADirectoryWithItsSubtree) {
  Flat f = flatten_ok({
      {dir("etc"), file("etc/old", "x"), file("etc/keep", "k"),
       dir("var/cache/apt"), file("var/cache/apt/pkg", "p")},
      {file("etc/.wh.old", ""), file("var/.wh.cache", "")},
  });
  EXPECT_EQ(f.at.count("etc/old"), 0u);
  EXPECT_EQ(f.at["etc/keep"].data, "k");
  EXPECT_EQ(f.at.count("var/cache"), 0u);
  EXPECT_EQ(f.at.count("var/cache/apt/pkg"), 0u);
  EXPECT_EQ(f.at.count("var"), 1u);
  for (const auto& e : f.entries)
    EXPECT_EQ(e.path.find(".wh."), std::string::npos) << e.path;
}

TEST(RootfsFlatten, WhiteoutHidesOnlyLowerLayersWhereverItIsInTheStream) {
  // The layer re-creates the file before its whiteout: the new one stays.
  Flat f = flatten_ok({
      {file("a", "old")},
      {file("a", "new"), file(".wh.a", "")},
  });
  EXPECT_EQ(f.at["a"].data, "new");
}

TEST(RootfsFlatten, OpaqueDirectoryHidesLowerChildrenAndKeepsItsOwn) {
  Flat f = flatten_ok({
      {dir("etc/conf.d"), file("etc/conf.d/a", "a"), dir("etc/conf.d/sub"),
       file("etc/conf.d/sub/x", "x"), file("etc/other", "o")},
      // The marker after the layer's own entries still applies first.
      {dir("etc/conf.d"), file("etc/conf.d/c", "c"), dir("etc/conf.d/sub"),
       file("etc/conf.d/.wh..wh..opq", "")},
  });
  EXPECT_EQ(f.at.count("etc/conf.d/a"), 0u);
  EXPECT_EQ(f.at.count("etc/conf.d/sub/x"), 0u);
  EXPECT_EQ(f.at.count("etc/conf.d/sub"), 1u);
  EXPECT_EQ(f.at["etc/conf.d/c"].data, "c");
  EXPECT_EQ(f.at["etc/other"].data, "o");
}

TEST(RootfsFlatten, ReplacementRules) {
  TarEntry d2 = dir("d", 0700);
  d2.uid = 5;
  Flat f = flatten_ok({
      {dir("d"), file("d/child", "c"), dir("x"), file("x/below", "b"),
       file("y", "file")},
      {d2, file("x", "now a file"), dir("y")},
  });
  // A directory over a directory: children kept, new metadata.
  EXPECT_EQ(f.at["d/child"].data, "c");
  EXPECT_EQ(f.at["d"].mode, 0700u);
  EXPECT_EQ(f.at["d"].uid, 5);
  // A file over a directory drops the subtree.
  EXPECT_EQ(f.at["x"].type, 'f');
  EXPECT_EQ(f.at["x"].data, "now a file");
  EXPECT_EQ(f.at.count("x/below"), 0u);
  EXPECT_EQ(f.at["y"].type, 'd');
}

TEST(RootfsFlatten, HardLinkStaysOneInodeWrittenAfterItsTarget) {
  Flat f = flatten_ok({{dir("usr/bin"), file("usr/bin/tool", "data", 0755),
                        hardlink("usr/bin/tool2", "usr/bin/tool")}});
  ASSERT_EQ(f.at.count("usr/bin/tool"), 1u);
  const TarEntry& a = f.at["usr/bin/tool"];
  const TarEntry& b = f.at["usr/bin/tool2"];
  EXPECT_EQ(a.type, 'f');
  EXPECT_EQ(a.data, "data");
  EXPECT_EQ(b.type, 'h');
  EXPECT_EQ(b.link, "usr/bin/tool");
  size_t ia = 0, ib = 0;
  for (size_t i = 0; i < f.entries.size(); ++i) {
    if (f.entries[i].path == a.path) ia = i;
    if (f.entries[i].path == b.path) ib = i;
  }
  EXPECT_LT(ia, ib);
}

TEST(RootfsFlatten, HardLinkKeepsItsInodeWhenTheTargetIsReplaced) {
  Flat f = flatten_ok({
      {file("a", "one"), hardlink("b", "a")},
      {file("a", "two")},
  });
  EXPECT_EQ(f.at["a"].data, "two");
  EXPECT_EQ(f.at["b"].type, 'f');
  EXPECT_EQ(f.at["b"].data, "one");
}

TEST(RootfsFlatten, ModesOwnersTimesAndXattrsKept) {
  TarEntry su = file("bin/su", "su", 04755);
  TarEntry mine = file("home/u/notes", "n", 0600);
  mine.uid = mine.gid = 1000;
  mine.mtime = 1234567890;
  TarEntry ping = file("bin/ping", "p", 0755);
  ping.xattrs = {{"security.capability", std::string("\x01\x00\x00\x02", 4)},
                 {"user.k", "v"}};
  TarEntry tmp = dir("tmp", 01777);
  Flat f = flatten_ok({{dir("bin"), su, ping, mine, tmp}});
  EXPECT_EQ(f.at["bin/su"].mode, 04755u);
  EXPECT_EQ(f.at["bin/su"].uid, 0);
  EXPECT_EQ(f.at["home/u/notes"].uid, 1000);
  EXPECT_EQ(f.at["home/u/notes"].gid, 1000);
  EXPECT_EQ(f.at["home/u/notes"].mtime, 1234567890);
  EXPECT_EQ(f.at["tmp"].mode, 01777u);
  EXPECT_EQ(f.at["bin/ping"].xattrs, ping.xattrs);
}

TEST(RootfsFlatten, DevicesFifosAndSymlinksKept) {
  TarEntry null = file("dev/null", "", 0666);
  null.type = 'c';
  null.major = 1;
  null.minor = 3;
  TarEntry fifo = file("run/fifo", "", 0600);
  fifo.type = 'p';
  Flat f = flatten_ok({{null, fifo, symlink("lib", "usr/lib")}});
  EXPECT_EQ(f.at["dev/null"].type, 'c');
  EXPECT_EQ(f.at["dev/null"].major, 1u);
  EXPECT_EQ(f.at["dev/null"].minor, 3u);
  EXPECT_EQ(f.at["run/fifo"].type, 'p');
  EXPECT_EQ(f.at["lib"].type, 'l');
  EXPECT_EQ(f.at["lib"].link, "usr/lib");
}

TEST(RootfsFlatten, ParentsComeBeforeChildrenAndMissingParentsAreMade) {
  Flat f = flatten_ok({{file("a/b/c/file", "x")}, {dir("a/b", 0700)}});
  std::map<std::string, size_t> pos;
  for (size_t i = 0; i < f.entries.size(); ++i) pos[f.entries[i].path] = i;
  ASSERT_TRUE(pos.count("a") && pos.count("a/b") && pos.count("a/b/c"));
  EXPECT_LT(pos["a"], pos["a/b"]);
  EXPECT_LT(pos["a/b"], pos["a/b/c"]);
  EXPECT_LT(pos["a/b/c"], pos["a/b/c/file"]);
  EXPECT_EQ(f.at["a/b"].mode, 0700u);
  EXPECT_EQ(f.entries.front().path, ".");
}

TEST(RootfsFlatten, LeadingDotSlashAndSlashAreNormalisedAway) {
  Flat f = flatten_ok(
      {{file("./x", "1"), file("/abs/y", "2"), file("a//./b", "3")}});
  EXPECT_EQ(f.at["x"].data, "1");
  EXPECT_EQ(f.at["abs/y"].data, "2");
  EXPECT_EQ(f.at["a/b"].data, "3");
}

TEST(RootfsFlatten, CompressedLayers) {
  auto r = flatten({make_tar({file("g", "gz")}, Compression::kGzip),
                    make_tar({file("z", "zst")}, Compression::kZstd)});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->at["g"].data, "gz");
  EXPECT_EQ(r->at["z"].data, "zst");
}

TEST(RootfsImageSize, RoomForDataAndInodes) {
  std::vector<TarInput> in;
  std::string tar =
      make_tar({file("big", std::string(100000, 'x')), file("small", "s")});
  in.push_back({"", tar});
  auto tree = merge_layers(in, {});
  ASSERT_TRUE(tree.ok());
  ImageSize s = image_size(*tree);
  EXPECT_GE(s.bytes, 100000u + (64u << 20));
  EXPECT_EQ(s.bytes % 4096, 0u);
  EXPECT_EQ(s.inodes, 3u * 2 + 4096);  // root, big, small
}

}  // namespace
}  // namespace vmrun::rootfs
