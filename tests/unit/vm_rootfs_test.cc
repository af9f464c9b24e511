// vmm/rootfs.cc: the image config vmrun-rootfs writes, what a --rootfs path
// is, and how the image's config becomes the job's command and settings.
#include "vmm/rootfs.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "tests/support/temp_dir.h"

namespace vmrun {
namespace {

using test_support::TempDir;

RootfsKind kind(const std::string& path) {
  auto r = rootfs_kind(path);
  EXPECT_TRUE(r) << (r ? "" : r.error().message());
  return r ? *r : RootfsKind::kDirectory;
}

void write(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

TEST(ImageConfigTest, ReadsEveryKeyPercentDecoded) {
  auto c = parse_image_config(
      "arch amd64\ndigest sha256:ab\nname visa:2.1\nentrypoint /usr/bin/python3\nentrypoint -u\n"
      "cmd /app/measure.py\ncmd --rate%2010\nenv PATH=/usr/bin:/bin\nenv LABEL=a%20b%0Ac\n"
      "workdir /app\nuser meter:dialout\n");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->arch, "amd64");
  EXPECT_EQ(c->name, "visa:2.1");
  EXPECT_EQ(c->entrypoint, (std::vector<std::string>{"/usr/bin/python3", "-u"}));
  EXPECT_EQ(c->cmd, (std::vector<std::string>{"/app/measure.py", "--rate 10"}));
  EXPECT_EQ(c->env, (std::vector<std::string>{"PATH=/usr/bin:/bin", "LABEL=a b\nc"}));
  EXPECT_EQ(c->workdir, "/app");
  EXPECT_EQ(c->user, "meter:dialout");
}

TEST(ImageConfigTest, BadEncodingIsAnError) {
  EXPECT_FALSE(parse_image_config("cmd a%2\n"));
  EXPECT_FALSE(parse_image_config("cmd a%zz\n"));
}

TEST(RootfsKindTest, TellsDirectoriesExt4AndArchivesApart) {
  TempDir tmp;
  EXPECT_EQ(kind(tmp.path()), RootfsKind::kDirectory);
  write(tmp.path() + "/oci-layout", "{}");
  EXPECT_EQ(kind(tmp.path()), RootfsKind::kImageArchive);
  std::string ext4(2048, '\0');
  ext4[1080] = '\x53';
  ext4[1081] = '\xef';
  write(tmp.path() + "/fs.img", ext4);
  EXPECT_EQ(kind(tmp.path() + "/fs.img"), RootfsKind::kExt4);
  std::string tar(1024, '\0');
  tar.replace(257, 5, "ustar");
  write(tmp.path() + "/image.tar", tar);
  EXPECT_EQ(kind(tmp.path() + "/image.tar"), RootfsKind::kImageArchive);
  write(tmp.path() + "/notes.txt", "hello");
  auto r = rootfs_kind(tmp.path() + "/notes.txt");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("neither an ext4 image, a directory, nor an OCI or docker image archive"),
            std::string::npos);
  EXPECT_FALSE(rootfs_kind(tmp.path() + "/missing"));
}

// A converter stand-in: prints a cache entry with a config, as vmrun-rootfs does.
std::string fake_converter(TempDir& tmp, const std::string& config) {
  const std::string entry = tmp.path() + "/entry";
  std::filesystem::create_directories(entry);
  write(entry + "/config", config);
  write(entry + "/rootfs.ext4", "");
  const std::string tool = tmp.path() + "/convert";
  write(tool, "#!/bin/sh\necho " + entry + "\n");
  std::filesystem::permissions(tool, std::filesystem::perms::owner_all);
  return tool;
}

std::string image_archive(TempDir& tmp) {
  std::string tar(1024, '\0');
  tar.replace(257, 5, "ustar");
  write(tmp.path() + "/image.tar", tar);
  return tmp.path() + "/image.tar";
}

TEST(ResolveRootfsTest, CommandReplacesCmdAndKeepsEntrypoint) {
  TempDir tmp;
  const std::string tool =
      fake_converter(tmp, "arch amd64\nentrypoint /bin/tini\nentrypoint --\ncmd python3\nenv A=1\nworkdir /app\nuser 1000:1000\n");
  VmConfig c;
  c.rootfs.spec = image_archive(tmp);
  c.command = {"ls", "-l"};
  ASSERT_TRUE(resolve_rootfs(c, tool));
  EXPECT_EQ(c.command, (std::vector<std::string>{"/bin/tini", "--", "ls", "-l"}));
  EXPECT_EQ(c.rootfs.env, (std::vector<std::string>{"A=1"}));
  EXPECT_EQ(c.rootfs.cwd, "/app");
  EXPECT_EQ(c.rootfs.user, "1000:1000");
  ASSERT_EQ(c.disks.size(), 1u);
  EXPECT_TRUE(c.disks[0].read_only);
  EXPECT_EQ(c.rootfs.device, "vda");

  VmConfig d;
  d.rootfs.spec = image_archive(tmp);
  ASSERT_TRUE(resolve_rootfs(d, tool));
  EXPECT_EQ(d.command, (std::vector<std::string>{"/bin/tini", "--", "python3"}));
}

TEST(ResolveRootfsTest, ImageWithoutACommandNeedsOne) {
  TempDir tmp;
  const std::string tool = fake_converter(tmp, "arch amd64\n");
  VmConfig c;
  c.rootfs.spec = image_archive(tmp);
  auto r = resolve_rootfs(c, tool);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("has no Entrypoint or Cmd"), std::string::npos);
}

TEST(ResolveRootfsTest, AJobImageKeepsItsOwnCommandAndDisksKeepTheirNames) {
  TempDir tmp;
  const std::string tool = fake_converter(tmp, "arch amd64\ncmd python3\nenv A=1\nworkdir /app\n");
  VmConfig c;
  c.has_job_image = true;
  c.disks = {{"job.img", false, false}, {"data.img", false, false}};
  c.rootfs.spec = image_archive(tmp);
  ASSERT_TRUE(resolve_rootfs(c, tool));
  EXPECT_TRUE(c.command.empty());
  EXPECT_TRUE(c.rootfs.cwd.empty());
  EXPECT_EQ(c.rootfs.env, (std::vector<std::string>{"A=1"}));
  EXPECT_EQ(c.rootfs.device, "vdc");  // after the job image and -d disks
}

TEST(ResolveRootfsTest, ConverterErrorIsOneLine) {
  TempDir tmp;
  const std::string tool = tmp.path() + "/convert";
  write(tool, "#!/bin/sh\necho 'vmrun-rootfs: image.tar is an image for linux/arm64; vmrun runs linux/amd64' >&2\nexit 2\n");
  std::filesystem::permissions(tool, std::filesystem::perms::owner_all);
  VmConfig c;
  c.rootfs.spec = image_archive(tmp);
  auto r = resolve_rootfs(c, tool);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "--rootfs: image.tar is an image for linux/arm64; vmrun runs linux/amd64");
}

TEST(ResolveRootfsTest, DirectoryIsAShareAndRwOnlyForExt4) {
  TempDir tmp;
  VmConfig c;
  c.rootfs.spec = tmp.path();
  ASSERT_TRUE(resolve_rootfs(c, "/nonexistent"));
  ASSERT_EQ(c.shares.size(), 1u);
  EXPECT_TRUE(c.shares[0].rootfs);
  EXPECT_TRUE(c.shares[0].read_only);
  EXPECT_EQ(c.rootfs.device, "9p:vmrun-rootfs");
  VmConfig d;
  d.rootfs.spec = tmp.path() + ",rw";
  auto r = resolve_rootfs(d, "/nonexistent");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("only an ext4 image can be written through"), std::string::npos);
}

}  // namespace
}  // namespace vmrun
