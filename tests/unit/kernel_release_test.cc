// The guest kernel's release from a bzImage's header or a kernel.version
// beside vmlinux (vmm/kernel_release.h): made-up headers in temp files,
// truncated ones, pointers out of range, hostile kernel.version files.
#include "vmm/kernel_release.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "tests/support/temp_dir.h"
#include "tests/unit/kernel_loader_images.h"

namespace vmrun {
namespace {

namespace fs = std::filesystem;
using x86::Bytes;

// A bzImage (4 setup sectors) whose kernel_version points at `text` placed
// at file offset `at`.
Bytes bzimage_with_version(const std::string& text, size_t at = 0x600) {
  x86::BzImage image;
  image.hdr.kernel_version = static_cast<uint16_t>(at - 0x200);
  Bytes b = image.build();
  if (b.size() < at + text.size() + 1) b.resize(at + text.size() + 1);
  std::memcpy(b.data() + at, text.c_str(), text.size() + 1);
  return b;
}

class KernelReleaseTest : public ::testing::Test {
 protected:
  test_support::TempDir tmp_;
  std::string write(const std::string& name, const Bytes& bytes) {
    const std::string path = tmp_.path() + "/" + name;
    fs::create_directories(fs::path(path).parent_path());
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
    return path;
  }
  std::string write(const std::string& name, const std::string& text) {
    return write(name, Bytes(text.begin(), text.end()));
  }
  Bytes elf() const { return x86::ElfImage().build(); }
};

TEST(KernelReleaseNames, WhatIsARelease) {
  for (const char* good :
       {"6.1.0-41-amd64", "6.12.0+", "5.10.0-rc1~exp1", "6.1.0_custom.x"}) {
    EXPECT_TRUE(is_kernel_release(good)) << good;
  }
  for (const char* bad :
       {"", ".", "..", "../etc", "a/b", "6.1 0", "6.1\n", ".hidden"}) {
    EXPECT_FALSE(is_kernel_release(bad)) << bad;
  }
  EXPECT_TRUE(is_kernel_release(std::string(kMaxReleaseLength, '1')));
  EXPECT_FALSE(is_kernel_release(std::string(kMaxReleaseLength + 1, '1')));
}

TEST(KernelReleaseNames, FirstLineTrimmed) {
  EXPECT_EQ(parse_release_line("6.1.0-41-amd64\n").value(), "6.1.0-41-amd64");
  EXPECT_EQ(parse_release_line("  6.1.0-41-amd64 \r\nsecond line\n").value(),
            "6.1.0-41-amd64");
  EXPECT_EQ(parse_release_line("6.1.0-41-amd64").value(), "6.1.0-41-amd64");
  EXPECT_FALSE(parse_release_line("").ok());
  EXPECT_FALSE(parse_release_line("\n6.1.0-41-amd64\n").ok());
  EXPECT_FALSE(parse_release_line("6.1.0 41\n").ok());
  EXPECT_FALSE(parse_release_line(std::string_view("6.1\0x\n", 6)).ok());
}

TEST(BzImageRelease, TheHeadersVersionStringsFirstWord) {
  auto r = bzimage_release(
      bzimage_with_version("6.1.0-41-amd64 (debian-kernel@lists.debian.org) #1 "
                           "SMP PREEMPT_DYNAMIC Debian"));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(*r, "6.1.0-41-amd64");
  // A string of one word ends at its NUL.
  EXPECT_EQ(bzimage_release(bzimage_with_version("6.2.0")).value(), "6.2.0");
}

TEST(BzImageRelease, NotABzImage) {
  EXPECT_FALSE(bzimage_release(Bytes(0x1000, 0)).ok());
  EXPECT_FALSE(bzimage_release(Bytes{}).ok());
}

TEST(BzImageRelease, TruncatedAnywhere) {
  const Bytes whole = bzimage_with_version("6.1.0-41-amd64 (x)");
  // Every cut short of the whole word must fail or give the whole word,
  // never read past the span (ASan watches).
  for (size_t n = 0; n < whole.size(); ++n) {
    Bytes cut(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(n));
    auto r = bzimage_release(cut);
    if (r.ok()) {
      EXPECT_EQ(*r, "6.1.0-41-amd64") << n;
    }
    if (n < 0x600 + 15) {
      EXPECT_FALSE(r.ok()) << "cut at " << n;
    }
  }
}

TEST(BzImageRelease, PointerOutOfRange) {
  // Past the setup sectors (4 + 1 of them: 0xa00 bytes), though in the file.
  Bytes b = bzimage_with_version("6.1.0-41-amd64", 0xa00);
  ASSERT_GT(b.size(), 0xa00u);
  EXPECT_FALSE(bzimage_release(b).ok());
  // The largest pointer, far past a small file.
  x86::BzImage image;
  image.hdr.kernel_version = 0xffff;
  EXPECT_FALSE(bzimage_release(image.build()).ok());
  // No pointer at all.
  image.hdr.kernel_version = 0;
  EXPECT_FALSE(bzimage_release(image.build()).ok());
}

TEST(BzImageRelease, UnterminatedOrNotARelease) {
  // The string runs to the end of the setup sectors without a blank or NUL.
  Bytes b = bzimage_with_version("", 0x9f0);
  std::memset(b.data() + 0x9f0, '6', 0x10);
  EXPECT_FALSE(bzimage_release(b).ok());
  EXPECT_FALSE(bzimage_release(bzimage_with_version("../../etc x")).ok());
  EXPECT_FALSE(bzimage_release(bzimage_with_version(" leading-blank")).ok());
}

TEST(BzImageRelease, OldBootProtocolHasNoString) {
  x86::BzImage image;
  image.hdr.version = 0x0105;
  image.hdr.kernel_version = 0x400;
  Bytes b = image.build();
  std::memcpy(b.data() + 0x600, "6.1.0", 6);
  EXPECT_FALSE(bzimage_release(b).ok());
}

TEST_F(KernelReleaseTest, BzImageFileSaysItsOwnRelease) {
  // Whatever its name, and whatever a kernel.version beside it says.
  write("kernel.version", "9.9.9\n");
  const std::string path =
      write("vmlinuz", bzimage_with_version("6.1.0-41-amd64 (x)"));
  EXPECT_EQ(kernel_release(path).value(), "6.1.0-41-amd64");
  EXPECT_EQ(
      kernel_release(write("my-kernel", bzimage_with_version("6.5.0 (x)")))
          .value(),
      "6.5.0");
}

TEST_F(KernelReleaseTest, BzImageFileWithABadPointerIsUnknown) {
  write("kernel.version", "6.1.0-41-amd64\n");
  x86::BzImage image;
  image.hdr.kernel_version = 0xffff;
  auto r = kernel_release(write("vmlinuz", image.build()));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("vmlinuz"), std::string::npos)
      << r.error().message();
}

TEST_F(KernelReleaseTest, TruncatedBzImageFile) {
  Bytes b = bzimage_with_version("6.1.0-41-amd64 (x)");
  b.resize(0x605);  // the string is cut off
  EXPECT_FALSE(kernel_release(write("bz", b)).ok());
  b.resize(0x208);  // not even a whole header
  EXPECT_FALSE(kernel_release(write("bz2", b)).ok());
  EXPECT_FALSE(kernel_release(write("empty", Bytes{})).ok());
}

TEST_F(KernelReleaseTest, VmlinuxBesideKernelVersion) {
  write("images/kernel.version", "6.1.0-57-amd64\n");
  EXPECT_EQ(kernel_release(write("images/vmlinux", elf())).value(),
            "6.1.0-57-amd64");
  // vmlinuz that is not a bzImage (say, compressed otherwise): the same file.
  EXPECT_EQ(kernel_release(write("images/vmlinuz", elf())).value(),
            "6.1.0-57-amd64");
}

TEST_F(KernelReleaseTest, OtherNamesHaveNoKernelVersion) {
  write("kernel.version", "6.1.0-57-amd64\n");
  auto r = kernel_release(write("vmlinux-6.1", elf()));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("vmlinux-6.1"), std::string::npos);
}

TEST_F(KernelReleaseTest, MissingOrHostileKernelVersion) {
  const std::string vmlinux = write("vmlinux", elf());
  EXPECT_FALSE(kernel_release(vmlinux).ok());  // none at all
  write("kernel.version", "../../../etc\n");
  EXPECT_FALSE(kernel_release(vmlinux).ok());
  write("kernel.version", "");
  EXPECT_FALSE(kernel_release(vmlinux).ok());
  write("kernel.version", "6.1.0-57-amd64" + std::string(300, ' ') + "\n");
  auto big = kernel_release(vmlinux);
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.error().message().find("not one short line"),
            std::string::npos);
  fs::remove(tmp_.path() + "/kernel.version");
  fs::create_directory(tmp_.path() + "/kernel.version");
  EXPECT_FALSE(kernel_release(vmlinux).ok());
  fs::remove(tmp_.path() + "/kernel.version");
  ASSERT_EQ(mkfifo((tmp_.path() + "/kernel.version").c_str(), 0600), 0);
  EXPECT_FALSE(kernel_release(vmlinux).ok());  // and does not block
}

TEST_F(KernelReleaseTest, KernelThatIsNotAFile) {
  EXPECT_FALSE(kernel_release(tmp_.path()).ok());
  EXPECT_FALSE(kernel_release(tmp_.path() + "/missing").ok());
}

}  // namespace
}  // namespace vmrun
