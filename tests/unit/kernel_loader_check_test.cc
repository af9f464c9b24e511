// check_kernel_file, the early check of the kernel file before any VM:
// synthetic ELF and bzImage files (kernel_loader_images.h) pass, text,
// empty, 32-bit and missing files fail naming the path; load_kernel_file's
// errors name the path too.
#include <elf.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "tests/unit/kernel_loader_images.h"
#include "vmm/x86/kernel_loader.h"

namespace vmrun::x86 {
namespace {

// ---- check_kernel_file ----

class CheckKernelFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/check_kernel_file_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string write(const std::string& name, const Bytes& bytes) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return path;
  }
  std::string dir_;
};

TEST_F(CheckKernelFileTest, AcceptsElfAndBzImage) {
  auto elf = check_kernel_file(write("vmlinux", ElfImage().build()));
  EXPECT_TRUE(elf.ok()) << elf.error().message();
  auto bz = check_kernel_file(write("bzImage", BzImage().build()));
  EXPECT_TRUE(bz.ok()) << bz.error().message();
}

TEST_F(CheckKernelFileTest, RejectsTextFile) {
  std::string text = "#!/bin/sh\necho this is not a kernel\n";
  std::string path = write("notes.txt", Bytes(text.begin(), text.end()));
  auto r = check_kernel_file(path);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find(path), std::string::npos);
  EXPECT_NE(r.error().message().find("not a Linux kernel"), std::string::npos)
      << r.error().message();
}

TEST_F(CheckKernelFileTest, RejectsEmptyFile) {
  EXPECT_FALSE(check_kernel_file(write("empty", {})).ok());
}

TEST_F(CheckKernelFileTest, Rejects32BitElf) {
  ElfImage elf;
  elf.eh.e_ident[EI_CLASS] = ELFCLASS32;
  elf.eh.e_machine = EM_386;
  auto r = check_kernel_file(write("vmlinux32", elf.build()));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("x86-64"), std::string::npos)
      << r.error().message();
}

// The early check exists so that bad input fails before any VM (and before
// the KVM host checks); a bzImage that load_kernel would refuse for lack of
// a 64-bit entry point is such input.
TEST_F(CheckKernelFileTest, RejectsBzImageWithout64BitEntry) {
  BzImage no64;
  no64.hdr.xloadflags = 0;
  EXPECT_FALSE(check_kernel_file(write("bzImage-32", no64.build())).ok());
  BzImage old;
  old.hdr.version = 0x020a;
  EXPECT_FALSE(check_kernel_file(write("bzImage-old", old.build())).ok());
}

TEST_F(CheckKernelFileTest, MissingFileNamesThePath) {
  std::string path = dir_ + "/no-such-kernel";
  auto r = check_kernel_file(path);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find(path), std::string::npos)
      << r.error().message();
}

TEST_F(CheckKernelFileTest, DirectoryIsRejected) {
  EXPECT_FALSE(check_kernel_file(dir_).ok());
}

TEST_F(CheckKernelFileTest, LoadKernelFileErrorsNameThePath) {
  std::string empty = write("empty", {});
  auto mem = guest();
  auto r = load_kernel_file(empty, *mem);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find(empty), std::string::npos);
  std::string text = write("text", Bytes(5000, 'a'));
  auto t = load_kernel_file(text, *mem);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message().find(text), std::string::npos);
}

}  // namespace
}  // namespace vmrun::x86
