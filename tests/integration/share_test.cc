// Shared directories (--9p) with real guests: the guest changes files and
// the host sees exactly those changes, and the reverse; big files keep
// their checksums; escapes from the share fail and change nothing outside.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "tests/support/integration.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace {

namespace fs = std::filesystem;
using namespace vmrun::test_support;


// vmrun with `shares` (each "DIR,TAG[,...]") running `script` in sh.
RunResult guest(const std::vector<std::string>& shares, const std::string& script,
                const std::vector<std::string>& extra = {}) {
  std::vector<std::string> argv{VMRUN_BINARY};
  for (const auto& s : shares) {
    argv.push_back("--9p");
    argv.push_back(s);
  }
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.insert(argv.end(), {"--", "sh", "-c", script});
  return run(argv, kHangLimit, SIGUSR2);  // a hung vmrun dumps its state
}

// Every path under `dir` with its type and, for files, contents; for
// comparing a tree before and after.
std::string snapshot(const fs::path& dir) {
  std::string out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); it != fs::end(it); ++it) {
    out += it->path().string();
    if (it->is_symlink()) out += " -> " + fs::read_symlink(it->path()).string();
    else if (it->is_regular_file()) out += " = " + read_file(it->path());
    out += "\n";
  }
  return out;
}

class ShareTest : public ::testing::Test {
 protected:
  void SetUp() override {
    share_ = fs::path(tmp_.path()) / "share";
    outside_ = fs::path(tmp_.path()) / "outside";
    fs::create_directories(share_);
    fs::create_directories(outside_);
    write_file(outside_ / "secret", "host secret\n");
  }
  std::string share(const std::string& opts = "") const {
    return share_.string() + ",s" + opts;
  }
  TempDir tmp_;
  fs::path share_, outside_;
};

TEST_F(ShareTest, GuestChangesAreExactlyWhatTheHostSees) {
  write_file(share_ / "old.txt", "to be renamed\n");
  write_file(share_ / "gone.txt", "to be deleted\n");
  write_file(share_ / "long.txt", "0123456789");
  fs::create_directories(share_ / "emptydir");
  RunResult r = guest({share()},
                      "cd /mnt/s && echo 'made in the guest' > new.txt && "
                      "mkdir -p dir/sub && echo nested > dir/sub/file && "
                      "mv old.txt dir/renamed.txt && rm gone.txt && rmdir emptydir && "
                      "truncate -s 4 long.txt && chmod 750 new.txt && "
                      "ln -s new.txt link && ln new.txt hard && echo done");
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.out, "done\n");
  EXPECT_EQ(read_file(share_ / "new.txt"), "made in the guest\n");
  EXPECT_EQ(read_file(share_ / "dir/sub/file"), "nested\n");
  EXPECT_EQ(read_file(share_ / "dir/renamed.txt"), "to be renamed\n");
  EXPECT_FALSE(fs::exists(share_ / "old.txt"));
  EXPECT_FALSE(fs::exists(share_ / "gone.txt"));
  EXPECT_FALSE(fs::exists(share_ / "emptydir"));
  EXPECT_EQ(read_file(share_ / "long.txt"), "0123");
  struct stat st;
  ASSERT_EQ(stat((share_ / "new.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  EXPECT_EQ(st.st_nlink, 2u);
  EXPECT_EQ(st.st_uid, geteuid()) << "guest-made files belong to vmrun's user";
  EXPECT_EQ(fs::read_symlink(share_ / "link"), "new.txt");
  EXPECT_TRUE(fs::equivalent(share_ / "hard", share_ / "new.txt"));
}

TEST_F(ShareTest, HostFilesAreExactlyWhatTheGuestSees) {
  fs::create_directories(share_ / "a/b");
  write_file(share_ / "a/b/c.txt", "deep\n");
  write_file(share_ / "mode.sh", "#!/bin/sh\necho script ran\n");
  fs::permissions(share_ / "mode.sh", fs::perms(0755));
  fs::create_symlink("a/b/c.txt", share_ / "lnk");
  RunResult r = guest({share()},
                      "cd /mnt/s && cat a/b/c.txt && cat lnk && readlink lnk && "
                      "./mode.sh && stat -c '%a %s' mode.sh a/b/c.txt");
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.out, "deep\ndeep\na/b/c.txt\nscript ran\n755 26\n644 5\n");
}

TEST_F(ShareTest, HundredMebibytesKeepTheirChecksumBothWays) {
  {
    std::mt19937_64 rng(42);
    std::ofstream out(share_ / "from-host.bin", std::ios::binary);
    std::vector<uint64_t> block(1 << 16);
    for (int i = 0; i < 200; ++i) {  // 200 x 512 KiB = 100 MiB
      for (auto& v : block) v = rng();
      out.write(reinterpret_cast<const char*>(block.data()),
                static_cast<std::streamsize>(block.size() * 8));
    }
  }
  RunResult r = guest({share()},
                      "cd /mnt/s && sha256sum from-host.bin && "
                      "head -c 104857600 /dev/urandom > from-guest.bin && sync && "
                      "sha256sum from-guest.bin",
                      {"-m", "512"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(r.out.find(sha256(share_ / "from-host.bin", kHangLimit) + "  from-host.bin"),
            std::string::npos) << r.out;
  ASSERT_EQ(fs::file_size(share_ / "from-guest.bin"), 104857600u);
  EXPECT_NE(r.out.find(sha256(share_ / "from-guest.bin", kHangLimit) + "  from-guest.bin"),
            std::string::npos) << r.out;
}

// The pattern of many programs' temporary files: open, unlink, keep using.
TEST_F(ShareTest, OpenUnlinkedFileStaysUsable) {
  RunResult r = guest({share()},
                      "cd /mnt/s && echo 'still here' > tmpfile && exec 3<> tmpfile && "
                      "rm tmpfile && ls && cat <&3 && stat -L -c 'size %s' /proc/self/fd/3");
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.out, "still here\nsize 11\n");
  EXPECT_TRUE(fs::is_empty(share_));
}

TEST_F(ShareTest, TenThousandEntriesListFully) {
  fs::create_directories(share_ / "many");
  for (int i = 0; i < 10000; ++i) {
    std::ofstream(share_ / "many" / ("f" + std::to_string(i))).close();
  }
  // The shell's glob reads the directory (Treaddir) and stats nothing;
  // `ls` would also stat each entry: 10,000 more round trips of nested
  // exits, the load under which QEMU's emulated SVM (the nested lab) now
  // and then freezes (docs/lab-freeze.md). One listing, counted three ways.
  RunResult r = guest({share()},
                      "printf '%s\\n' /mnt/s/many/* | sed 's,.*/,,' > /tmp/l; wc -l < /tmp/l; "
                      "sort -u /tmp/l | wc -l; grep -cx 'f[0-9]*' /tmp/l");
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.out, "10000\n10000\n10000\n");
}

TEST_F(ShareTest, EscapesFailAndNothingOutsideChanges) {
  fs::create_symlink("../outside", share_ / "rel");
  fs::create_symlink(outside_, share_ / "abs");
  const std::string before = snapshot(outside_);
  // Symlinks resolve in the guest's own namespace, so the guest never
  // reaches the host's files; `..` stops at the share's root.
  RunResult r = guest({share()},
                      "cd /mnt/s; cat rel/secret abs/secret ../outside/secret 2>/dev/null; "
                      "echo pwned > rel/new 2>/dev/null; echo pwned > abs/new 2>/dev/null; "
                      "cd /mnt/s/.. && ls /mnt/s/../ ; cat /mnt/s/../../outside/secret 2>/dev/null; "
                      "echo finished");
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.out.find("host secret"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("finished"), std::string::npos);
  EXPECT_EQ(snapshot(outside_), before);
  EXPECT_EQ(fs::read_symlink(share_ / "rel"), "../outside");
}

TEST_F(ShareTest, ReadOnlyShareRefusesWrites) {
  write_file(share_ / "keep.txt", "unchanged\n");
  const std::string before = snapshot(share_);
  RunResult r = guest({share(",ro")},
                      // rm -f: the guest's stdin is its console, a terminal, and
                      // rm would ask before removing a file it cannot write.
                      "cat /mnt/s/keep.txt; (echo x > /mnt/s/new) 2>/dev/null; "
                      "echo \"create=$?\"; (echo x >> /mnt/s/keep.txt) 2>/dev/null; "
                      "echo \"append=$?\"; rm -f /mnt/s/keep.txt 2>/dev/null; "
                      "echo \"rm=$?\"; mkdir /mnt/s/d 2>/dev/null; echo \"mkdir=$?\"");
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.out, "unchanged\ncreate=1\nappend=1\nrm=1\nmkdir=1\n");
  EXPECT_EQ(snapshot(share_), before);
}

TEST_F(ShareTest, TwoSharesAtChosenPaths) {
  fs::create_directories(share_.parent_path() / "second");
  write_file(share_.parent_path() / "second/x", "second share\n");
  RunResult r = guest({share(",at=/work/first"), (share_.parent_path() / "second").string() +
                                                     ",other,ro"},
                      "echo hi > /work/first/hi && cat /mnt/other/x");
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.out, "second share\n");
  EXPECT_EQ(read_file(share_ / "hi"), "hi\n");
}

}  // namespace
