#include "vmm/run_report.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "tests/support/temp_dir.h"

namespace vmrun {
namespace {

TEST(RunReportTest, JsonStringEscapesQuotesBackslashesAndControlBytes) {
  EXPECT_EQ(json_string("plain"), "\"plain\"");
  EXPECT_EQ(json_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(json_string("tab\there\nnl"), "\"tab\\u0009here\\u000anl\"");
  EXPECT_EQ(json_string(std::string("\xff\x01", 2)), "\"\\u00ff\\u0001\"");
}

TEST(RunReportTest, WritesEveryFieldAndReplacesTheFileWhole) {
  test_support::TempDir tmp;
  const std::string path = tmp.path() + "/result.json";
  std::ofstream(path) << "old contents that must go";
  VmConfig c;
  c.kernel = "/k/vmlinux";
  c.initrd = "/k/initramfs.cpio";
  c.mem_mib = 512;
  c.cpus = 2;
  c.disks.push_back({"/jobs/job \"1\".img", false, false});
  c.shares.push_back({"/src", "src", "/mnt/src", true});
  c.vfio.push_back({0, 1, 0, 0});
  RunReport r;
  r.exit_status = 7;
  r.reason = "job";
  r.job_status = 7;
  r.wall_seconds = 5.25;
  r.boot_seconds = 1.5;
  r.taps = {"tap0"};
  ASSERT_TRUE(write_run_report(path, r, c).ok());
  std::stringstream got;
  got << std::ifstream(path).rdbuf();
  EXPECT_EQ(got.str(),
            "{\n"
            "  \"exit_status\": 7,\n"
            "  \"reason\": \"job\",\n"
            "  \"detail\": \"\",\n"
            "  \"job_status\": 7,\n"
            "  \"wall_seconds\": 5.250,\n"
            "  \"boot_seconds\": 1.500,\n"
            "  \"kernel\": \"/k/vmlinux\",\n"
            "  \"initrd\": \"/k/initramfs.cpio\",\n"
            "  \"mem_mib\": 512,\n"
            "  \"cpus\": 2,\n"
            "  \"disks\": [\"/jobs/job \\\"1\\\".img\"],\n"
            "  \"shares\": [\"/src\"],\n"
            "  \"taps\": [\"tap0\"],\n"
            "  \"vfio\": [\"0000:01:00.0\"]\n"
            "}\n");
}

TEST(RunReportTest, NullsWhenThereIsNoJobStatusOrBootTime) {
  test_support::TempDir tmp;
  const std::string path = tmp.path() + "/r.json";
  RunReport r;
  r.exit_status = 125;
  r.reason = "error";
  r.detail = "disk 'x' does not exist";
  ASSERT_TRUE(write_run_report(path, r, VmConfig{}).ok());
  std::stringstream got;
  got << std::ifstream(path).rdbuf();
  EXPECT_NE(got.str().find("\"job_status\": null"), std::string::npos);
  EXPECT_NE(got.str().find("\"boot_seconds\": null"), std::string::npos);
  EXPECT_NE(got.str().find("\"detail\": \"disk 'x' does not exist\""), std::string::npos);
}

TEST(RunReportTest, UnwritableDirectoryIsAnError) {
  EXPECT_FALSE(write_run_report("/nonexistent-dir/r.json", RunReport{}, VmConfig{}).ok());
}

}  // namespace
}  // namespace vmrun
