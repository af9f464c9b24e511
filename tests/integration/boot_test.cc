// Boots real guests with the built vmrun and checks what a user would see:
// exit status, console output, the one-line reason on stderr. Needs a KVM
// that can boot Linux; tests/integration/run puts us in the nested lab when
// this host's cannot.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "tests/support/subprocess.h"

namespace {

using vmrun::test_support::count_lines;
using vmrun::test_support::run_program;
using vmrun::test_support::RunResult;

// Even in the lab a boot takes well under a minute; a run that takes this
// long has hung, which is itself a failure ("vmrun never hangs").
constexpr double kHangLimit = 300;

RunResult vmrun(std::vector<std::string> args, const std::string& input = "") {
  args.insert(args.begin(), VMRUN_BINARY);
  RunResult r = run_program(args, input, kHangLimit);
  EXPECT_FALSE(r.timed_out) << "vmrun did not exit within " << kHangLimit << " s";
  EXPECT_EQ(r.signal, 0) << "vmrun died of signal " << r.signal;
  return r;
}

RunResult job(const std::string& script, std::vector<std::string> opts = {}) {
  opts.insert(opts.end(), {"--", "sh", "-c", script});
  return vmrun(opts);
}

std::string describe(const RunResult& r) {
  return "exit " + std::to_string(r.exit_code) + " after " +
         std::to_string(r.seconds) + " s\n--- stdout:\n" + r.out +
         "--- stderr:\n" + r.err;
}

// How long one boot-and-exit takes here, measured once (the timeout test
// sizes its limit from it rather than guessing for every machine).
double boot_seconds() {
  static double seconds = [] { return vmrun({"--", "true"}).seconds; }();
  return seconds;
}

TEST(Boot, JobExitStatusZero) {
  RunResult r = vmrun({"--", "true"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "");
}

TEST(Boot, JobOutputAndExitStatusThree) {
  RunResult r = job("echo hello; exit 3");
  EXPECT_EQ(r.exit_code, 3) << describe(r);
  EXPECT_EQ(r.out, "hello\n");
  EXPECT_EQ(r.err, "");
}

TEST(Boot, ExitStatus255) {
  RunResult r = job("exit 255");
  EXPECT_EQ(r.exit_code, 255) << describe(r);
}

TEST(Boot, JobKilledBySignalGives128PlusSignal) {
  RunResult r = job("kill -9 $$");
  EXPECT_EQ(r.exit_code, 128 + 9) << describe(r);
}

TEST(Boot, CommandNotFoundIsInitFailure) {
  RunResult r = vmrun({"--", "/no/such/program"});
  EXPECT_EQ(r.exit_code, 127) << describe(r);
  EXPECT_NE(r.out.find("/no/such/program"), std::string::npos) << describe(r);
  EXPECT_EQ(count_lines(r.err), 1) << describe(r);
}

TEST(Boot, ArgumentsSurviveQuotingExactly) {
  RunResult r = vmrun({"--", "printf", "[%s]", "a b", "\"q\" 'r'", "x\ny",
                       "", "100%", "c,d", "\\n"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.out, "[a b][\"q\" 'r'][x\ny][][100%][c,d][\\n]");
}

TEST(Boot, GuestKernelPanicIsReported) {
  RunResult r = job("echo c > /proc/sysrq-trigger; sleep 100");
  EXPECT_EQ(r.exit_code, 123) << describe(r);
  EXPECT_EQ(count_lines(r.err), 1) << describe(r);
  EXPECT_NE(r.err.find("panic"), std::string::npos) << describe(r);
}

TEST(Boot, TimeoutStopsARunningJob) {
  const double limit = 2 * boot_seconds() + 10;
  char limit_text[32];
  snprintf(limit_text, sizeof limit_text, "%.0f", limit);
  RunResult r = job("echo started; sleep 100000", {"--timeout", limit_text});
  EXPECT_EQ(r.exit_code, 124) << describe(r);
  EXPECT_EQ(r.out, "started\n") << "the job should have been running";
  EXPECT_NE(r.err.find("timed out"), std::string::npos) << describe(r);
  EXPECT_LT(r.seconds, limit + 30) << "vmrun must stop soon after the limit";
}

TEST(Boot, TwoCpusAreOnline) {
  RunResult r = vmrun({"-c", "2", "--", "nproc"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.out, "2\n");
}

TEST(Boot, OneCpuByDefault) {
  RunResult r = vmrun({"--", "nproc"});
  EXPECT_EQ(r.out, "1\n") << describe(r);
}

TEST(Boot, MemoryFlagSetsGuestRam) {
  RunResult r = job("awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo",
                    {"-m", "512"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  int mib = std::atoi(r.out.c_str());
  // The kernel keeps some for itself; the rest must be about what we gave.
  EXPECT_GT(mib, 400) << describe(r);
  EXPECT_LE(mib, 512) << describe(r);
}

TEST(Boot, ConsoleOutputArrivesInOrderAndComplete) {
  RunResult r = job("i=0; while [ $i -lt 3000 ]; do echo line$i; i=$((i+1)); done");
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  std::string expected;
  for (int i = 0; i < 3000; ++i) expected += "line" + std::to_string(i) + "\n";
  EXPECT_EQ(r.out, expected);
}

TEST(Boot, StdinReachesTheGuestConsole) {
  RunResult r = vmrun({"--", "sh", "-c", "read line; echo \"got: $line\""},
                      "hello from stdin\n");
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.out, "got: hello from stdin\n");
}

TEST(Boot, ExtraKernelParamsReachTheGuest) {
  RunResult r = vmrun({"-p", "vmrun_test_marker=42", "--", "cat", "/proc/cmdline"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(r.out.find("vmrun_test_marker=42"), std::string::npos) << describe(r);
}

TEST(Boot, BootsACompressedBzImage) {
  RunResult r = vmrun({"-k", VMRUN_IMAGE_DIR "/vmlinuz", "--", "sh", "-c",
                       "echo bz; exit 7"});
  EXPECT_EQ(r.exit_code, 7) << describe(r);
  EXPECT_EQ(r.out, "bz\n");
}

TEST(Boot, ExplicitKernelAndInitrd) {
  RunResult r = vmrun({"-k", VMRUN_IMAGE_DIR "/vmlinux", "-i",
                       VMRUN_IMAGE_DIR "/initramfs.cpio", "--", "uname", "-r"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_FALSE(r.out.empty());
}

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
