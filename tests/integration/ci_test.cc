// What a CI wrapper relies on: the console log file, the JSON result, and a
// prompt, clean stop on SIGTERM and SIGINT.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/support/integration.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace {

using namespace vmrun::test_support;
using vmrun::test_support::vmrun;  // not the namespace

class CiTest : public ::testing::Test {
 protected:
  TempDir tmp_;
};

TEST_F(CiTest, LogAndResultOfAJob) {
  const std::string log = tmp_.path() + "/console.log", json = tmp_.path() + "/r.json";
  RunResult r = vmrun({"--log", log, "--result-json", json, "--", "sh", "-c",
                       "echo line one; echo line two >&2; "
                       "echo vmrun-kmsg-marker > /dev/kmsg; exit 7"});
  EXPECT_EQ(r.exit_code, 7) << describe(r);
  EXPECT_TRUE(contains(r.out, "line one\n") && contains(r.out, "line two\n")) << r.out;
  // The log: the console exactly, then (the job failed) the guest's kernel
  // log, which only the log gets.
  const std::string text = read_file(log);
  EXPECT_EQ(text.substr(0, r.out.size()), r.out) << text;
  const std::string header = "--- guest kernel log (dmesg), the job ended with status 7 ---";
  const size_t at = text.find(header);
  ASSERT_NE(at, std::string::npos) << text;
  EXPECT_NE(text.find("vmrun-kmsg-marker", at), std::string::npos) << text;
  EXPECT_TRUE(contains(text, "--- end of guest kernel log ---")) << text;
  EXPECT_FALSE(contains(r.out, "guest kernel log")) << "not on the console: " << r.out;
  const std::string j = read_file(json);
  EXPECT_TRUE(contains(j, "\"exit_status\": 7,")) << j;
  EXPECT_TRUE(contains(j, "\"reason\": \"job\",")) << j;
  EXPECT_TRUE(contains(j, "\"job_status\": 7,")) << j;
  EXPECT_FALSE(contains(j, "\"boot_seconds\": null")) << j;
}

// A job that passes leaves the console alone in the log.
TEST_F(CiTest, LogOfAPassingJobIsTheConsoleExactly) {
  const std::string log = tmp_.path() + "/console.log";
  RunResult r = vmrun({"--log", log, "--", "sh", "-c", "echo fine"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(read_file(log), r.out);
}

TEST_F(CiTest, LogKeepsTheConsoleWhenTheGuestPanics) {
  const std::string log = tmp_.path() + "/console.log", json = tmp_.path() + "/r.json";
  RunResult r = vmrun({"--log", log, "--result-json", json, "--", "sh", "-c",
                       "echo about to crash; echo c > /proc/sysrq-trigger"});
  EXPECT_EQ(r.exit_code, 123) << describe(r);
  const std::string text = read_file(log);
  EXPECT_TRUE(contains(text, "about to crash\n")) << text;
  EXPECT_TRUE(contains(text, "Kernel panic - not syncing")) << text;
  EXPECT_TRUE(contains(text, "vmrun: guest kernel panic")) << "ends with why: " << text;
  EXPECT_TRUE(contains(read_file(json), "\"reason\": \"panic\"")) << read_file(json);
}

// As a CI system cancels a job: SIGTERM, then the status and a line saying
// why, within a few seconds; the JSON says "interrupted".
TEST_F(CiTest, SigtermAndSigintStopTheGuestPromptly) {
  for (const std::string sig : {"TERM", "INT"}) {
    const std::string json = tmp_.path() + "/r" + sig + ".json";
    RunResult r = run_program(
        {"/bin/sh", "-c",
         "\"$0\" --result-json \"$1\" -- sh -c 'echo started; sleep 300' & pid=$!;"
         "sleep 10; start=$(date +%s); kill -" + sig + " $pid; wait $pid; s=$?;"
         "echo status=$s seconds=$(( $(date +%s) - start ))",
         VMRUN_BINARY, json},
        "", 300);
    const int expected = sig == "TERM" ? 143 : 130;
    EXPECT_TRUE(contains(r.out, "status=" + std::to_string(expected))) << describe(r);
    EXPECT_TRUE(contains(r.err, "vmrun: stopped by SIG" + sig + "; guest stopped")) << describe(r);
    const size_t at = r.out.find("seconds=");
    ASSERT_NE(at, std::string::npos) << describe(r);
    EXPECT_LE(std::stoi(r.out.substr(at + 8)), 5) << "took too long to stop";
    EXPECT_TRUE(contains(read_file(json), "\"reason\": \"interrupted\"")) << read_file(json);
  }
}

// Parallel jobs on one host: each VM its own, each status its own.
TEST_F(CiTest, FourJobsAtOnceEachWithItsOwnStatus) {
  RunResult r = run_program(
      {"/bin/sh", "-c",
       R"sh(for i in 1 2 3 4; do
            "$0" -m 192 -- sh -c "echo job $i; exit $i" > "$1/out$i" 2>&1 &
            echo $! > "$1/pid$i"
          done
          for i in 1 2 3 4; do wait "$(cat "$1/pid$i")"; echo "job$i=$?"; done
          cat "$1"/out*)sh",
       VMRUN_BINARY, tmp_.path()},
      "", 600);
  for (int i = 1; i <= 4; ++i) {
    const std::string n = std::to_string(i);
    EXPECT_TRUE(contains(r.out, "job" + n + "=" + n + "\n")) << describe(r);
    EXPECT_TRUE(contains(r.out, "job " + n + "\n")) << describe(r);
  }
}

// SIGTERM with things to clean up: a tap made for the run (in a namespace
// of the test's own) and a snapshot overlay; nothing is left.
TEST_F(CiTest, SigtermLeavesNothingBehind) {
  if (geteuid() != 0 || !std::filesystem::exists("/dev/net/tun")) {
    GTEST_SKIP() << "needs root and /dev/net/tun for a namespace with a tap";
  }
  const std::string ns = "vmrunci" + std::to_string(getpid());
  const std::string disk = tmp_.path() + "/disk.img";
  std::ofstream(disk).close();
  std::filesystem::resize_file(disk, 8 << 20);
  RunResult r = run_program(
      {"/bin/sh", "-c",
       "ip netns add $1 && ip netns exec $1 ip link set lo up || exit 9;"
       "ip netns exec $1 \"$0\" --snapshot -d \"$2\" -n mode=tap,host_ip=10.79.0.1/24 "
       "-- sleep 300 & pid=$!; sleep 10; echo taps-during=$(ip netns exec $1 ip -o link | grep -c vmrun);"
       "kill -TERM $pid; wait $pid; echo status=$?; sleep 1;"
       "echo taps-after=$(ip netns exec $1 ip -o link | grep -c vmrun);"
       "echo procs-after=$(pgrep -xc vmrun); ip netns del $1",
       VMRUN_BINARY, ns, disk},
      "", 300);
  EXPECT_TRUE(contains(r.out, "taps-during=1")) << describe(r);
  EXPECT_TRUE(contains(r.out, "status=143")) << describe(r);
  EXPECT_TRUE(contains(r.out, "taps-after=0")) << describe(r);
  EXPECT_TRUE(contains(r.out, "procs-after=0")) << describe(r);
  // The snapshot overlay was an unnamed file: the disk itself is untouched.
  EXPECT_EQ(std::filesystem::file_size(disk), 8u << 20);
}

}  // namespace
