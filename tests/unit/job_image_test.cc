// A job image's /.vmrun/kernel read on the host (vmm/job_image.h): real
// ext4 images made with mkfs.ext4 -d, one with the file, one without, a
// file that is not ext4, and the file as a directory, too big, a symlink;
// the image is never changed, not even one whose journal needs recovery.
#include "vmm/job_image.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/support/temp_dir.h"

namespace vmrun {
namespace {

namespace fs = std::filesystem;

std::string sbin_tool(const std::string& name) {
  for (const char* dir : {"/sbin/", "/usr/sbin/", "/usr/bin/", "/bin/"}) {
    const std::string path = dir + name;
    if (access(path.c_str(), X_OK) == 0) return path;
  }
  return "";
}

std::string contents(const std::string& path) {
  std::ostringstream s;
  s << std::ifstream(path, std::ios::binary).rdbuf();
  return s.str();
}

// FNV-1a over the whole file: the image before and after must match.
uint64_t checksum(const std::string& path) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : contents(path)) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

class JobImageTest : public ::testing::Test {
 protected:
  test_support::TempDir tmp_;
  std::string mkfs_ = sbin_tool("mkfs.ext4");

  void SetUp() override {
    if (mkfs_.empty()) GTEST_SKIP() << "no mkfs.ext4 (e2fsprogs)";
  }

  // A tree under tmp/NAME.d with `run`, and an image of it, tmp/NAME.img.
  std::string tree(const std::string& name) {
    const std::string dir = tmp_.path() + "/" + name + ".d";
    fs::create_directories(dir);
    std::ofstream(dir + "/run") << "#!/bin/sh\necho hi\n";
    return dir;
  }
  std::string image(const std::string& name) {
    const std::string dir = tmp_.path() + "/" + name + ".d";
    const std::string img = tmp_.path() + "/" + name + ".img";
    const std::string cmd =
        mkfs_ + " -q -F -d '" + dir + "' '" + img + "' 16M >/dev/null 2>&1";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    return img;
  }
  std::string image_with_kernel_file(const std::string& name,
                                     const std::string& text) {
    const std::string dir = tree(name);
    fs::create_directories(dir + "/.vmrun");
    std::ofstream(dir + "/.vmrun/kernel") << text;
    return image(name);
  }
};

TEST_F(JobImageTest, ReadsTheRelease) {
  const std::string img = image_with_kernel_file("k", "6.1.0-41-amd64\n");
  const uint64_t before = checksum(img);
  auto r = read_job_image_kernel(img);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_FALSE(r->unreadable) << *r->unreadable;
  ASSERT_TRUE(r->release);
  EXPECT_EQ(*r->release, "6.1.0-41-amd64");
  EXPECT_EQ(checksum(img), before) << "the image must not change";
}

TEST_F(JobImageTest, FirstLineTrimmed) {
  auto r = read_job_image_kernel(
      image_with_kernel_file("k", "  6.1.0-41-amd64 \nnotes\n"));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->release.value_or(""), "6.1.0-41-amd64");
}

TEST_F(JobImageTest, WithoutTheFile) {
  tree("plain");
  auto r = read_job_image_kernel(image("plain"));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_FALSE(r->unreadable);
  EXPECT_FALSE(r->release);
  // .vmrun there, kernel not; .vmrun a file, not a directory.
  fs::create_directories(tree("dir") + "/.vmrun");
  r = read_job_image_kernel(image("dir"));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->release);
  std::ofstream(tree("file") + "/.vmrun") << "6.1.0-41-amd64\n";
  r = read_job_image_kernel(image("file"));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->release);
}

TEST_F(JobImageTest, NotExt4IsUnreadableNotAnError) {
  const std::string text = tmp_.path() + "/notes.img";
  std::ofstream(text) << std::string(8192, 'x');
  const uint64_t before = checksum(text);
  auto r = read_job_image_kernel(text);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_TRUE(r->unreadable);
  EXPECT_FALSE(r->release);
  EXPECT_EQ(checksum(text), before);
  // Empty, truncated, missing, a directory: the same.
  std::ofstream(tmp_.path() + "/empty.img").close();
  EXPECT_TRUE(read_job_image_kernel(tmp_.path() + "/empty.img")->unreadable);
  const std::string img = image_with_kernel_file("k", "6.1.0-41-amd64\n");
  fs::resize_file(img, 4096);
  EXPECT_TRUE(read_job_image_kernel(img)->unreadable);
  EXPECT_TRUE(read_job_image_kernel(tmp_.path() + "/missing.img")->unreadable);
  EXPECT_TRUE(read_job_image_kernel(tmp_.path())->unreadable);
  ASSERT_EQ(mkfifo((tmp_.path() + "/fifo").c_str(), 0600), 0);
  EXPECT_TRUE(read_job_image_kernel(tmp_.path() + "/fifo")
                  ->unreadable);  // and no block
}

TEST_F(JobImageTest, KernelFileThatIsADirectory) {
  fs::create_directories(tree("d") + "/.vmrun/kernel");
  auto r = read_job_image_kernel(image("d"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find(
                "/.vmrun/kernel must be a regular file of under 256 bytes"),
            std::string::npos)
      << r.error().message();
}

TEST_F(JobImageTest, KernelFileTooBig) {
  auto r = read_job_image_kernel(
      image_with_kernel_file("big", std::string(256, '6')));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("under 256 bytes"), std::string::npos);
  // 255 bytes is still one short line's worth, but not a release.
  r = read_job_image_kernel(
      image_with_kernel_file("long", std::string(255, '6')));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("does not name a kernel release"),
            std::string::npos);
}

TEST_F(JobImageTest, KernelFileThatIsASymlinkOrEmpty) {
  const std::string dir = tree("link");
  fs::create_directories(dir + "/.vmrun");
  std::ofstream(dir + "/elsewhere") << "6.1.0-41-amd64\n";
  fs::create_symlink("../elsewhere", dir + "/.vmrun/kernel");
  EXPECT_FALSE(read_job_image_kernel(image("link")).ok());
  EXPECT_FALSE(read_job_image_kernel(image_with_kernel_file("empty", "")).ok());
  EXPECT_FALSE(
      read_job_image_kernel(image_with_kernel_file("path", "../../x\n")).ok());
}

// A journal that needs recovery is not replayed: the image stays as it was
// (the flag too), and the file is still read from the file system as is.
TEST_F(JobImageTest, JournalIsNotReplayed) {
  const std::string debugfs = sbin_tool("debugfs");
  if (debugfs.empty()) GTEST_SKIP() << "no debugfs";
  const std::string img = image_with_kernel_file("j", "6.1.0-41-amd64\n");
  const std::string cmd =
      debugfs + " -w -R 'feature needs_recovery' '" + img + "' >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  const uint64_t before = checksum(img);
  struct stat st_before;
  ASSERT_EQ(stat(img.c_str(), &st_before), 0);
  auto r = read_job_image_kernel(img);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->release.value_or(""), "6.1.0-41-amd64");
  EXPECT_EQ(checksum(img), before);
  struct stat st_after;
  ASSERT_EQ(stat(img.c_str(), &st_after), 0);
  EXPECT_EQ(st_after.st_mtim.tv_sec, st_before.st_mtim.tv_sec);
  EXPECT_EQ(st_after.st_mtim.tv_nsec, st_before.st_mtim.tv_nsec);
}

TEST_F(JobImageTest, CheckRefusesAnotherRelease) {
  const std::string img = image_with_kernel_file("k", "6.1.0-57-amd64\n");
  auto r = check_job_image_kernel(img, std::string("6.1.0-41-amd64"), "");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(
      r.error().message(),
      img +
          "'s modules were built for 6.1.0-57-amd64; this guest kernel is "
          "6.1.0-41-amd64: rebuild with vmrun-mkjob --dkms, or boot that "
          "kernel");
}

TEST_F(JobImageTest, CheckPassesTheSameReleaseUnknownsAndPlainImages) {
  const std::string img = image_with_kernel_file("k", "6.1.0-57-amd64\n");
  EXPECT_TRUE(
      check_job_image_kernel(img, std::string("6.1.0-57-amd64"), "").ok());
  EXPECT_TRUE(
      check_job_image_kernel(img, std::nullopt, "no kernel.version").ok());
  tree("plain");
  EXPECT_TRUE(
      check_job_image_kernel(image("plain"), std::string("6.1.0-41-amd64"), "")
          .ok());
  const std::string text = tmp_.path() + "/notes.img";
  std::ofstream(text) << "not a file system\n";
  EXPECT_TRUE(
      check_job_image_kernel(text, std::string("6.1.0-41-amd64"), "").ok());
  EXPECT_FALSE(check_job_image_kernel(image_with_kernel_file("bad", "\n"),
                                      std::string("6.1.0-41-amd64"), "")
                   .ok());
}

}  // namespace
}  // namespace vmrun
