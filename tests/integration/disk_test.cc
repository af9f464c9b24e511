// Disks and job images with real guests: what a user checks afterwards is
// the exit status, the console, and the bytes in the image files.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/support/integration.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace {

namespace fs = std::filesystem;
using namespace vmrun::test_support;
using vmrun::test_support::vmrun;  // not the namespace

class DiskTest : public ::testing::Test {
 protected:
  // A job directory with this `run` script, made into an image.
  std::string make_job(const std::string& run_script,
                       const std::vector<std::pair<std::string, std::string>>& files = {}) {
    const std::string dir = tmp_.path() + "/job" + std::to_string(jobs_++);
    fs::create_directories(dir + "/out");
    write_file(dir + "/run", "#!/bin/sh\n" + run_script, 0755);
    for (const auto& [name, text] : files) write_file(dir + "/" + name, text, 0644);
    const std::string image = dir + ".img";
    RunResult r = run({VMRUN_MKJOB, dir, image});
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    return image;
  }

  std::string sparse_file(const std::string& name, uint64_t size) {
    const std::string path = tmp_.path() + "/" + name;
    std::ofstream(path).close();
    fs::resize_file(path, size);
    return path;
  }

  TempDir tmp_;
  int jobs_ = 0;
};

TEST_F(DiskTest, JobImageRunsAndReturnsItsStatus) {
  std::string image = make_job("echo \"job ran in $(pwd)\"; exit 5\n");
  RunResult r = vmrun({image});
  EXPECT_EQ(r.exit_code, 5) << describe(r);
  EXPECT_EQ(r.out, "job ran in /job\n");
}

TEST_F(DiskTest, JobImageExitZero) {
  std::string image = make_job("exit 0\n");
  RunResult r = vmrun({image});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
}

TEST_F(DiskTest, JobLeavesResultsInItsImage) {
  std::string image = make_job("printf 'result=%s\\n' \"$GREETING\" > out/result.txt\n",
                               {{"env", "GREETING=hello world\n"}});
  RunResult r = vmrun({image});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  RunResult x = run({VMRUN_MKJOB, "--extract", image, "out/result.txt", "-"});
  EXPECT_EQ(x.exit_code, 0) << describe(x);
  EXPECT_EQ(x.out, "result=hello world\n");
}

TEST_F(DiskTest, CommandOverridesTheJobsRun) {
  std::string image = make_job("exit 9\n");
  RunResult r = vmrun({image, "--", "sh", "-c", "ls run && exit 4"});
  EXPECT_EQ(r.exit_code, 4) << describe(r);
  EXPECT_EQ(r.out, "run\n");
}

TEST_F(DiskTest, FlushedWritesReachTheSecondDiskExactly) {
  std::string data = sparse_file("data.img", 8 << 20);
  // 4 KiB of a known pattern at 1 MiB, written with O_DIRECT-free dd and an
  // explicit fsync (FLUSH) before the job ends.
  std::string image = make_job(
      "i=0; while [ $i -lt 256 ]; do printf 'vmrun-%09d\\n' $i; i=$((i+1)); done > /tmp/p\n"
      "dd if=/tmp/p of=/dev/vdb bs=4096 seek=256 conv=fsync 2>/dev/null\n");
  RunResult r = vmrun({image, "--disk", data});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  std::string expected;
  for (int i = 0; i < 256; ++i) {
    char line[32];
    snprintf(line, sizeof line, "vmrun-%09d\n", i);
    expected += line;
  }
  EXPECT_EQ(read_file(data, 1 << 20, expected.size()), expected);
  EXPECT_EQ(read_file(data, 0, 16), std::string(16, '\0'));
}

TEST_F(DiskTest, ReadOnlyDiskRejectsWrites) {
  std::string data = sparse_file("ro.img", 1 << 20);
  write_file(data, "original", 0644);
  fs::resize_file(data, 1 << 20);
  const std::string before = sha256(data);
  std::string image = make_job(
      "cat /sys/block/vdb/ro\n"
      "if echo x | dd of=/dev/vdb conv=fsync 2>/dev/null; then echo wrote; else echo refused; fi\n");
  RunResult r = vmrun({image, "-d", data + ",ro"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.out, "1\nrefused\n");
  EXPECT_EQ(sha256(data), before);
}

TEST_F(DiskTest, SnapshotLeavesTheImageByteIdentical) {
  std::string image = make_job(
      "echo changed > out/result.txt; dd if=/dev/zero of=filler bs=1M count=2 2>/dev/null; sync\n"
      "cat out/result.txt\n");
  const std::string before = sha256(image);
  RunResult r = vmrun({"--snapshot", image});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.out, "changed\n") << "the guest sees its own writes";
  EXPECT_EQ(sha256(image), before);
}

TEST_F(DiskTest, SparseThreeGibDiskWorksPastTwoGib) {
  std::string big = sparse_file("big.img", 3ull << 30);
  std::string image = make_job(
      "cat /sys/block/vdb/size\n"
      "echo far-out | dd of=/dev/vdb bs=512 seek=5242880 conv=sync,fsync 2>/dev/null\n");
  RunResult r = vmrun({image, "--disk", big});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.out, std::to_string((3ull << 30) / 512) + "\n");
  EXPECT_EQ(read_file(big, 5242880ull * 512, 8), "far-out\n");
}

TEST_F(DiskTest, DiskSizeNotASectorMultipleIsRoundedDown) {
  std::string odd = sparse_file("odd.img", (1 << 20) + 100);
  std::string image = make_job("cat /sys/block/vdb/size\n");
  RunResult r = vmrun({image, "--disk", odd});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.out, "2048\n");
}

TEST_F(DiskTest, JobModulesAreLoadedBeforeTheJob) {
  // A module the initramfs does not carry, from the same kernel build.
  const std::string ko = VMRUN_IMAGE_DIR "/modules-for-tests/dummy.ko";
  if (!fs::exists(ko)) GTEST_SKIP() << "no test module at " << ko;
  const std::string dir = tmp_.path() + "/modjob";
  fs::create_directories(dir + "/drivers");
  fs::copy_file(ko, dir + "/drivers/dummy.ko");
  write_file(dir + "/modules", "# our driver\ndrivers/dummy.ko\n", 0644);
  write_file(dir + "/run", "#!/bin/sh\ngrep -o '^dummy ' /proc/modules\n", 0755);
  ASSERT_EQ(run({VMRUN_MKJOB, dir, dir + ".img"}).exit_code, 0);
  RunResult r = vmrun({dir + ".img"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.out, "dummy \n");
}

}  // namespace
