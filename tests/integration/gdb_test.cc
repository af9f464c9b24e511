// gdb on the guest kernel as a driver developer uses it: vmrun --gdb
// --gdb-wait, Debian's gdb with the symbol file images/gdb-vmlinux makes,
// a hardware breakpoint before paging is up, a software one after,
// registers, a kernel variable, a single step, and the job's exit status
// reaching both gdb and the shell.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <string>

#include "tests/support/integration.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace {

namespace fs = std::filesystem;
using namespace vmrun::test_support;
using vmrun::test_support::vmrun;  // not the namespace

// The symbol file images/gdb-vmlinux makes (one guest boot), once per run.
const std::string& symbols() {
  static TempDir dir;
  static std::string path = [] {
    const std::string out = dir.path() + "/vmlinux-gdb";
    RunResult made = run_program({"/usr/bin/env", std::string("VMRUN=") + VMRUN_BINARY,
                                  std::string(VMRUN_SOURCE_DIR) + "/images/gdb-vmlinux", out},
                                 "", kHangLimit);
    EXPECT_EQ(made.exit_code, 0) << describe(made);
    return out;
  }();
  return path;
}

// vmrun --gdb tcp::0 --gdb-wait running a job that opens a file and exits
// 5, and gdb with `commands` (a gdb script) attached; gdb's output, then
// vmrun-status=N, then vmrun's stdout and stderr.
std::string debug_session(const std::string& commands) {
  TempDir tmp;
  write_file(tmp.path() + "/cmds", "set pagination off\nset confirm off\n" + commands);
  const std::string script =
      "\"$0\" --gdb tcp::0 --gdb-wait -- sh -c 'cat /proc/version > /dev/null; echo job-done; "
      "exit 5' > \"$1/out\" 2> \"$1/err\" & pid=$!;"
      "for i in $(seq 100); do grep -q 'listening on' \"$1/err\" && break; sleep 0.2; done;"
      "port=$(sed -n 's/.*listening on 127.0.0.1:\\([0-9]*\\).*/\\1/p' \"$1/err\");"
      "timeout 200 gdb -batch -nx -ex \"file $2\" "
      "-ex \"target remote 127.0.0.1:$port\" -x \"$1/cmds\" 2>&1;"
      // gdb is done: vmrun ends with the job, or the test says it did not.
      "for i in $(seq 100); do kill -0 $pid 2>/dev/null || break; sleep 0.2; done;"
      "kill -9 $pid 2>/dev/null && echo vmrun-still-running;"
      "wait $pid; echo vmrun-status=$?; cat \"$1/out\" \"$1/err\"";
  return run({"/bin/sh", "-c", script, VMRUN_BINARY, tmp.path(), symbols()}).out;
}

bool on_qemu_tcg() {
  return contains(read_file("/proc/cpuinfo"), "QEMU TCG CPU");
}

TEST(GdbTest, HardwareBreakpointRegistersVariableStepAndExit) {
  if (!fs::exists("/usr/bin/gdb")) GTEST_SKIP() << "no /usr/bin/gdb on this host";
  const std::string o = debug_session(
      "hbreak do_sys_openat2\n"
      "continue\n"
      "info registers rip\n"
      "x/s (long)&linux_banner\n"
      "p/x $pc == (long)&do_sys_openat2\n"
      "stepi\n"
      "p/x $pc != (long)&do_sys_openat2\n"
      "delete\n"
      "continue\n");
  EXPECT_TRUE(std::regex_search(o, std::regex("Breakpoint 1, 0x[0-9a-f]+ in do_sys_openat2")))
      << o;
  EXPECT_TRUE(std::regex_search(o, std::regex("rip +0xffffffff8[0-9a-f]+ +0x[0-9a-f]+ "
                                              "<do_sys_openat2>")))
      << o;
  EXPECT_TRUE(contains(o, "\"Linux version ")) << o;
  EXPECT_TRUE(std::regex_search(o, std::regex("\\$1 = 0x1"))) << o;
  EXPECT_TRUE(std::regex_search(o, std::regex("\\$2 = 0x1"))) << "stepi moved: " << o;
  EXPECT_TRUE(contains(o, "exited with code 05")) << o;
  EXPECT_TRUE(contains(o, "vmrun-status=5")) << o;
  EXPECT_TRUE(contains(o, "job-done")) << o;
}

// A software breakpoint (int3) once the kernel runs: KVM turns the guest's
// #BP into a debug exit. QEMU's software CPU (the nested lab) does not give
// a nested hypervisor the int3 it intercepts, so there the guest would get
// its own int3.
TEST(GdbTest, SoftwareBreakpointStopsTheKernel) {
  if (!fs::exists("/usr/bin/gdb")) GTEST_SKIP() << "no /usr/bin/gdb on this host";
  if (on_qemu_tcg()) {
    GTEST_SKIP() << "QEMU's TCG CPU (the nested lab) treats int3 as a software interrupt "
                    "and never exits to a nested KVM's #BP intercept";
  }
  const std::string o = debug_session(
      "hbreak do_sys_openat2\n"
      "continue\n"
      "delete\n"
      "break do_sys_openat2\n"
      "continue\n"
      "echo second-stop\\n\n"
      "info registers rip\n"
      "delete\n"
      "continue\n");
  EXPECT_TRUE(std::regex_search(o, std::regex("second-stop\\s+rip +0x[0-9a-f]+ +0x[0-9a-f]+ "
                                              "<do_sys_openat2>")))
      << o;
  EXPECT_TRUE(contains(o, "exited with code 05")) << o;
  EXPECT_TRUE(contains(o, "vmrun-status=5")) << o;
}

TEST(GdbTest, BadAddressIsAOneLineError) {
  RunResult r = vmrun({"--gdb", "tcp:nohost:notaport", "--", "true"});
  EXPECT_EQ(r.exit_code, 125) << describe(r);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_TRUE(contains(r.err, "--gdb")) << r.err;
}

TEST(GdbTest, PortInUseIsAOneLineError) {
  // The first vmrun holds a port; a second asking for it is refused.
  const std::string script =
      "\"$0\" --gdb tcp::0 --gdb-wait -- true 2> \"$1\" & pid=$!;"
      "for i in $(seq 100); do grep -q 'listening on' \"$1\" && break; sleep 0.2; done;"
      "port=$(sed -n 's/.*listening on 127.0.0.1:\\([0-9]*\\).*/\\1/p' \"$1\");"
      "\"$0\" --gdb tcp::$port -- true; echo second=$?; kill $pid; wait $pid";
  TempDir tmp;
  RunResult r = run({"/bin/sh", "-c", script, VMRUN_BINARY, tmp.path() + "/err"});
  EXPECT_TRUE(contains(r.out, "second=125")) << describe(r);
  EXPECT_TRUE(contains(r.err, "--gdb")) << describe(r);
}

}  // namespace
