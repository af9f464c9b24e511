// gdb on the guest kernel as a driver developer uses it: vmrun --gdb
// --gdb-wait, Debian's gdb with the symbol file images/gdb-vmlinux makes,
// a hardware breakpoint before paging is up, a software one after,
// registers, a kernel variable, a single step, and the job's exit status
// reaching both gdb and the shell; with Debian's debug kernel and the
// kernel's gdb scripts (images/kernel-gdb), lx-symbols loading the symbols
// of a driver built on the host and a stop in it at its source line.
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

// What a debugging session runs: gdb's set-up (the symbol file and its
// scripts: gdb commands), vmrun's arguments before `--`, and the job.
struct Session {
  std::string setup;
  std::string vmrun_args;
  std::string job = "cat /proc/version > /dev/null; echo job-done; exit 5";
};

// vmrun --gdb tcp::0 --gdb-wait running the session's job, and gdb with
// `commands` (a gdb script) attached, from a scratch directory; gdb's
// output, then vmrun-status=N, then vmrun's stdout and stderr.
std::string debug_session(const std::string& commands, const Session& s) {
  TempDir tmp;
  write_file(tmp.path() + "/setup", "set pagination off\nset confirm off\n" + s.setup);
  write_file(tmp.path() + "/cmds", commands);
  const std::string script =
      "cd \"$1\"; \"$0\" --gdb tcp::0 --gdb-wait $2 -- sh -c \"$3\" > out 2> err & pid=$!;"
      "for i in $(seq 100); do grep -q 'listening on' err && break; sleep 0.2; done;"
      "port=$(sed -n 's/.*listening on 127.0.0.1:\\([0-9]*\\).*/\\1/p' err);"
      "timeout 200 gdb -batch -nx -x setup -ex \"target remote 127.0.0.1:$port\" -x cmds 2>&1;"
      // gdb is done: vmrun ends with the job, or the test says it did not.
      "for i in $(seq 100); do kill -0 $pid 2>/dev/null || break; sleep 0.2; done;"
      "kill -9 $pid 2>/dev/null && echo vmrun-still-running;"
      "wait $pid; echo vmrun-status=$?; cat out err";
  return run({"/bin/sh", "-c", script, VMRUN_BINARY, tmp.path(), s.vmrun_args, s.job}).out;
}

// The kernel's symbols only (images/gdb-vmlinux).
std::string debug_session(const std::string& commands) {
  return debug_session(commands, Session{"file " + symbols() + "\n", "", Session().job});
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

// A guest gdb holds stopped longer than --timeout still finishes its job:
// the held time does not count. The guest is told it was paused
// (kvmclock), so its watchdog does not report a soft lockup either.
TEST(GdbTest, TimeHeldByGdbDoesNotCountTowardsTheTimeout) {
  if (!fs::exists("/usr/bin/gdb")) GTEST_SKIP() << "no /usr/bin/gdb on this host";
  Session s{"file " + symbols() + "\n", "--timeout 40", Session().job};
  const std::string o = debug_session(
      "hbreak do_sys_openat2\n"
      "continue\n"
      "shell sleep 50\n"
      "delete\n"
      "continue\n",
      s);
  EXPECT_TRUE(contains(o, "exited with code 05")) << o;
  EXPECT_TRUE(contains(o, "vmrun-status=5")) << o;
  EXPECT_FALSE(contains(o, "soft lockup")) << o;
}

// A driver's symbols in the running guest kernel, the kernel's way: the
// -dbg vmlinux and the kernel's gdb scripts (images/kernel-gdb), gdb stops
// where the edu module (built on the host, images/kmake) is being loaded,
// `lx-symbols` finds its .ko, and a breakpoint by the module's function
// name stops at its source line when it probes the passed-through card.
TEST(GdbTest, LxSymbolsLoadsABuiltModulesSymbols) {
  if (!fs::exists("/usr/bin/gdb")) GTEST_SKIP() << "no /usr/bin/gdb on this host";
  RunResult bind = run({std::string(VMRUN_SOURCE_DIR) + "/guest/modules/bind-edu"});
  if (bind.exit_code != 0) {
    GTEST_SKIP() << "no QEMU edu PCI device (1234:11e8) for vfio-pci on this host; the nested "
                    "lab has one: "
                 << bind.err;
  }
  const std::string bdf = bind.out.substr(0, bind.out.find('\n'));
  const fs::path kgdb = fs::path(VMRUN_IMAGE_DIR) / "kernel-gdb";
  ASSERT_TRUE(fs::exists(kgdb / "vmlinux-gdb.py"))
      << "no " << kgdb << ": images/kernel-gdb " << VMRUN_IMAGE_DIR << " makes it";
  TempDir tmp;
  const fs::path drv = fs::path(tmp.path()) / "drv";
  copy_edu_sources(drv);
  RunResult built = run({std::string(VMRUN_SOURCE_DIR) + "/images/kmake", drv.string()});
  ASSERT_EQ(built.exit_code, 0) << describe(built);

  Session s;
  s.setup = "add-auto-load-safe-path " + kgdb.string() + "\nfile " + (kgdb / "vmlinux").string() +
            "\n";
  s.vmrun_args = "--vfio-pci " + bdf + " --9p " + drv.string() + ",drv";
  s.job = "insmod /mnt/drv/edu.ko && test -c /dev/edu && rmmod edu && echo unloaded; exit 7";
  const std::string o = debug_session(
      // Boot loads other modules first: gdb resumes those itself.
      "hbreak do_init_module if $_streq(mod->name, \"edu\")\n"
      "continue\n"
      "lx-symbols " + drv.string() + "\n"
      "delete\n"
      "hbreak edu_probe\n"
      "continue\n"
      "echo stopped-in-module\\n\n"
      "p edu_driver.name\n"
      "p/x pdev->device\n"
      "p $lx_current().comm\n"
      "lx-lsmod\n"
      "delete\n"
      "continue\n",
      s);
  EXPECT_TRUE(contains(o, "loading @0x")) << o;
  EXPECT_TRUE(contains(o, drv.string() + "/edu.ko")) << o;
  EXPECT_TRUE(std::regex_search(o, std::regex("edu_probe \\(pdev=0x[0-9a-f]+, id=0x[0-9a-f]+ <edu_ids>"
                                              "\\) at [^\\n]*/drv/edu\\.c:[0-9]+")))
      << o;
  EXPECT_TRUE(std::regex_search(o, std::regex("stopped-in-module\\s+\\$1 = 0x[0-9a-f]+ \"edu\"\\s+"
                                              "\\$2 = 0x11e8\\s+\\$3 = \"insmod")))
      << o;
  EXPECT_TRUE(std::regex_search(o, std::regex("\\n0x[0-9a-f]+ +edu +[0-9]+")))
      << "lx-lsmod lists edu: " << o;
  EXPECT_TRUE(contains(o, "exited with code 07")) << o;
  EXPECT_TRUE(contains(o, "vmrun-status=7")) << o;
  EXPECT_TRUE(contains(o, "unloaded")) << o;
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
