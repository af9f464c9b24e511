// vmrun-rootfs's flattener on hostile layers: each is refused with one
// line naming the layer, before anything is written.
#include <gtest/gtest.h>

#include "tests/unit/rootfs_flatten_helpers.h"

namespace vmrun::rootfs {
namespace {

using namespace testing;

TEST(RootfsFlattenHostile, DotDotRefused) {
  EXPECT_EQ(flatten_error({{file("ok", "")}, {file("../x", "evil")}}),
            "layer 2: entry '../x' leaves the image");
  EXPECT_EQ(flatten_error({{file("a/../../x", "")}}),
            "layer 1: entry 'a/../../x' leaves the image");
}

TEST(RootfsFlattenHostile, WriteThroughASymlinkRefused) {
  EXPECT_EQ(
      flatten_error({{symlink("etc", "/host/etc")}, {file("etc/passwd", "x")}}),
      "layer 2: entry 'etc/passwd' is below the symlink 'etc'");
  EXPECT_EQ(flatten_error({{symlink("a", ".."), file("a/x", "")}}),
            "layer 1: entry 'a/x' is below the symlink 'a'");
  EXPECT_EQ(flatten_error({{file("f", ""), file("f/x", "")}}),
            "layer 1: entry 'f/x' is below 'f', which is not a directory");
  EXPECT_EQ(flatten_error({{symlink("a", "/")}, {file("a/.wh.x", "")}}),
            "layer 2: whiteout 'a/.wh.x' is below the symlink 'a'");
}

TEST(RootfsFlattenHostile, WhiteoutNamingDotOrDotDotRefused) {
  EXPECT_EQ(flatten_error({{dir("d")}, {file("d/.wh...", "")}}),
            "layer 2: whiteout 'd/.wh...' names '..'");
  EXPECT_EQ(flatten_error({{file("d/.wh..", "")}}),
            "layer 1: whiteout 'd/.wh..' names '.'");
  EXPECT_EQ(flatten_error({{file(".wh.", "")}}),
            "layer 1: whiteout '.wh.' names ''");
}

TEST(RootfsFlattenHostile, HardLinksOutsideOrToNoFileRefused) {
  EXPECT_EQ(flatten_error({{hardlink("x", "../../etc/shadow")}}),
            "layer 1: hard link target '../../etc/shadow' leaves the image");
  EXPECT_EQ(flatten_error({{hardlink("x", "missing")}}),
            "layer 1: entry 'x': hard link to 'missing', which is not a file "
            "in the image");
  EXPECT_EQ(
      flatten_error({{dir("d"), hardlink("x", "d")}}),
      "layer 1: entry 'x': hard link to 'd', which is not a file in the image");
  EXPECT_EQ(
      flatten_error({{symlink("s", "/etc"), hardlink("x", "s/passwd")}}),
      "layer 1: entry 'x': hard link to 's/passwd' is below the symlink 's'");
}

TEST(RootfsFlattenHostile, RootReplacedByAFileRefused) {
  EXPECT_EQ(flatten_error({{file(".", "x")}}),
            "layer 1: entry '.' replaces the root directory");
  EXPECT_EQ(flatten_error({{symlink("/", "/host")}}),
            "layer 1: entry '/' replaces the root directory");
}

TEST(RootfsFlattenHostile, SizesEntriesAndPathsBounded) {
  Limits small;
  small.max_total_bytes = 100;
  small.max_entry_bytes = 60;
  EXPECT_EQ(
      flatten_error(
          {{file("a", std::string(50, 'a')), file("b", std::string(51, 'b'))}},
          small),
      "layer 1: the layers hold more than 100 bytes (VMRUN_ROOTFS_MAX_BYTES)");
  EXPECT_EQ(flatten_error({{file("a", std::string(61, 'a'))}}, small),
            "layer 1: entry 'a' is 61 bytes, more than the limit of 60");
  Limits few;
  few.max_entries = 2;
  EXPECT_EQ(
      flatten_error({{file("a", "")}, {file("b", ""), file("c", "")}}, few),
      "layer 2: the layers hold more than 2 entries");
  std::string deep;
  for (int i = 0; i < 1100; ++i) deep += "dir/";
  EXPECT_NE(
      flatten_error({{file(deep + "f", "")}}).find("is longer than 4096 bytes"),
      std::string::npos);
  EXPECT_NE(flatten_error({{file(std::string(256, 'n'), "")}})
                .find("longer than 255 bytes"),
            std::string::npos);
}

TEST(RootfsFlattenHostile, XattrsBounded) {
  TarEntry big = file("f", "");
  big.xattrs = {{"user.a", std::string(70000, 'x')}};
  EXPECT_EQ(
      flatten_error({{big}}),
      "layer 1: entry 'f' has more than 65536 bytes of extended attributes");
}

TEST(RootfsFlattenHostile, CorruptAndTruncatedLayersAreOneLineErrors) {
  std::string tar =
      make_tar({file("a", std::string(5000, 'a')), file("b", "b")});
  auto r = flatten({tar.substr(0, 3000)});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(is_input_error(r.error()));
  EXPECT_EQ(plain_message(r.error()).rfind("layer 1: ", 0), 0u)
      << r.error().message();
  EXPECT_EQ(plain_message(r.error()).find('\n'), std::string::npos);

  r = flatten({tar, std::string(2000, '\x42')});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(plain_message(r.error()).rfind("layer 2: ", 0), 0u)
      << r.error().message();

  std::string gz =
      make_tar({file("a", std::string(100000, 'a'))}, Compression::kGzip);
  r = flatten({gz.substr(0, gz.size() / 2)});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(plain_message(r.error()).rfind("layer 1: ", 0), 0u)
      << r.error().message();
}

TEST(RootfsFlattenHostile, NamesWithNewlinesStayOnOneErrorLine) {
  std::string m = flatten_error({{file("a\nb/../../x", "")}});
  EXPECT_EQ(m, "layer 1: entry 'a\\x0ab/../../x' leaves the image");
}
}  // namespace
}  // namespace vmrun::rootfs
