// The job in the user's own userland (issue 14): a real Debian 12 made with
// mmdebstrap (python3, pyvisa, pyvisa-py; tests/rootfs/make-debian-userland,
// run on the host by tests/integration/prepare) as --rootfs, a directory and
// an ext4 image, with vmrun's kernel and init underneath. The measurement job
// is a real pyvisa program talking SCPI to a simulated LAN multimeter in a
// network namespace the test makes, and, where the lab's edu card is there,
// calling the card's driver from Python in the same job.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "tests/support/integration.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace {

namespace fs = std::filesystem;
using namespace vmrun::test_support;
using vmrun::test_support::vmrun;  // not the namespace

const std::string kRootfsTests = std::string(VMRUN_SOURCE_DIR) + "/tests/rootfs";

// The userland prepare made: DIR/root (a tree), DIR/rootfs.ext4.
std::string debian_userland() {
  const char* dir = std::getenv("VMRUN_TEST_ROOTFS");
  return dir != nullptr && fs::exists(std::string(dir) + "/rootfs.ext4") ? dir : "";
}

class RootfsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    userland_ = debian_userland();
    if (userland_.empty()) {
      GTEST_SKIP() << "no Debian userland: tests/integration/prepare makes it with mmdebstrap, "
                      "as root only (VMRUN_TEST_ROOTFS)";
    }
  }
  std::string userland_;
  TempDir tmp_;
};

TEST_F(RootfsTest, DirectoryIsTheJobsUserlandAndTheHostCopyNeverChanges) {
  const std::string root = userland_ + "/root";
  RunResult r = vmrun({"--rootfs", root, "--", "sh", "-c",
                       "grep PRETTY_NAME /etc/os-release; "
                       "python3 -c 'import pyvisa; print(\"pyvisa\", pyvisa.__version__)'; "
                       "echo scribbled > /etc/vmrun-probe && cat /etc/vmrun-probe; "
                       "rm /bin/ls && echo removed; uname -r; exit 7"});
  EXPECT_EQ(r.exit_code, 7) << describe(r);
  EXPECT_TRUE(contains(r.out, "Debian GNU/Linux 12")) << describe(r);
  EXPECT_TRUE(contains(r.out, "pyvisa 1.")) << describe(r);
  EXPECT_TRUE(contains(r.out, "scribbled\nremoved\n")) << describe(r);
  // vmrun's kernel, not the image's (a container image has none).
  EXPECT_TRUE(contains(r.out, read_file(std::string(VMRUN_IMAGE_DIR) + "/kernel.version")))
      << describe(r);
  EXPECT_FALSE(fs::exists(root + "/etc/vmrun-probe"));
  EXPECT_TRUE(fs::exists(root + "/bin/ls"));
}

TEST_F(RootfsTest, MissingCommandInTheImageIs127) {
  RunResult r = vmrun({"--rootfs", userland_ + "/rootfs.ext4", "--", "no-such-program"});
  EXPECT_EQ(r.exit_code, 127) << describe(r);
}

// An OCI image archive made by the test (three layers, busybox): converted
// by vmrun-rootfs in this run (into a cache in the test's directory: the
// lab sees the host's home read-only), its config honoured in the guest,
// and the second run a cache hit.
TEST(RootfsImageTest, OciArchiveConfigIsHonouredAndCommandReplacesCmd) {
  TempDir tmp;
  const std::string image = tmp.path() + "/lab-oci.tar";
  RunResult made = run({kRootfsTests + "/make-oci-image", image});
  ASSERT_EQ(made.exit_code, 0) << describe(made);
  setenv("VMRUN_CACHE_DIR", (tmp.path() + "/cache").c_str(), 1);
  RunResult def = vmrun({"--rootfs", image});
  EXPECT_EQ(def.exit_code, 0) << describe(def);
  EXPECT_EQ(def.out, "default-cmd\n") << describe(def);
  RunResult r = vmrun({"--rootfs", image, "--",
                       "/app/hello.sh; test -e /etc/gone || echo whiteout-applied; ls /data"});
  unsetenv("VMRUN_CACHE_DIR");
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  // WorkingDir, User (meter, group lab from the image's files), Env, the
  // Entrypoint kept (sh -c) with -- COMMAND in place of Cmd.
  EXPECT_TRUE(contains(r.out, "hello from /app as 1000:1000, hi there\n")) << describe(r);
  EXPECT_TRUE(contains(r.out, "whiteout-applied\n")) << describe(r);
  EXPECT_TRUE(contains(r.out, "new.txt\n")) << describe(r);
  EXPECT_FALSE(contains(r.out, "keep")) << "the opaque directory hides the lower layer\n" << describe(r);
}

// The seed's measurement service, end to end: pyvisa in the job's userland
// reads a LAN instrument; the readings come back in the job image.
class RootfsMeasurementTest : public RootfsTest {
 protected:
  void SetUp() override {
    RootfsTest::SetUp();
    if (IsSkipped()) return;
    if (geteuid() != 0) GTEST_SKIP() << "needs root to make a network namespace";
    ns_ = "vmrunr" + std::to_string(getpid());
    RunResult r = sh("ip netns add " + ns_ + " && ip netns exec " + ns_ +
                     " sh -c 'ip link set lo up && ip tuntap add vt0 mode tap && "
                     "ip addr add 10.77.0.1/24 dev vt0 && ip link set vt0 up'");
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    made_ = true;
  }
  void TearDown() override {
    if (made_) sh("ip netns exec " + ns_ + " ip link del vt0; ip netns del " + ns_);
  }
  static RunResult sh(const std::string& script) {
    return run_program({"/bin/sh", "-c", script}, "", kHangLimit, SIGUSR2);
  }
  // A job image running measure.py with `args`; `modules` and DKMS packages
  // for a driver.
  std::string job(const std::string& args, const std::string& modules,
                  const std::vector<std::string>& mkjob_extra) {
    const fs::path dir = fs::path(tmp_.path()) / "job";
    fs::create_directories(dir);
    fs::copy_file(kRootfsTests + "/measure.py", dir / "measure.py");
    write_file(dir / "run", "#!/bin/sh\nexec python3 /job/measure.py " + args + "\n");
    chmod((dir / "run").c_str(), 0755);
    if (!modules.empty()) write_file(dir / "modules", modules);
    std::vector<std::string> argv = {VMRUN_MKJOB};
    argv.insert(argv.end(), mkjob_extra.begin(), mkjob_extra.end());
    argv.push_back(dir.string());
    argv.push_back(dir.string() + ".img");
    RunResult r = run(argv);
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    return dir.string() + ".img";
  }
  // vmrun in the namespace with the simulated multimeter listening there.
  RunResult measure(const std::string& image, const std::string& vmrun_extra) {
    return sh("ip netns exec " + ns_ + " sh -c '" + kRootfsTests + "/scpi-sim 5025 1 & S=$!; " +
              VMRUN_BINARY " --rootfs " + userland_ + "/rootfs.ext4 -n mode=tap,tapif=vt0,ip=10.77.0.2/24 " +
              vmrun_extra + " " + image + "; echo vmrun=$?; kill $S 2>/dev/null; wait'");
  }
  std::string extract(const std::string& image, const std::string& path) {
    RunResult r = run({VMRUN_MKJOB, "--extract", image, path, "-"});
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    return r.out;
  }
  std::string ns_;
  bool made_ = false;
};

constexpr const char* kExpectedReadings =
    "idn,vmrun-lab,DMM-sim,SN4242,2.1\n"
    "0,1.0000\n1,2.0001\n2,3.0002\n3,4.0003\n4,5.0004\n"
    "error,-113,\"Undefined header\"\n";

TEST_F(RootfsMeasurementTest, PyvisaReadsALanInstrument) {
  const std::string image = job("10.77.0.1", "", {});
  RunResult r = measure(image, "");
  ASSERT_TRUE(contains(r.out, "measured 5 readings with pyvisa")) << describe(r);
  EXPECT_TRUE(contains(r.out, "vmrun=0")) << describe(r);
  EXPECT_EQ(extract(image, "out/readings.csv"), kExpectedReadings);
}

TEST_F(RootfsMeasurementTest, PyvisaAndThePassedThroughCardInOneJob) {
  RunResult bdf = run({std::string(VMRUN_SOURCE_DIR) + "/guest/modules/bind-edu"});
  if (bdf.exit_code != 0) GTEST_SKIP() << "no QEMU edu PCI device here; the nested lab has one";
  std::string address = bdf.out.substr(0, bdf.out.find('\n'));
  const std::string image = job("10.77.0.1 edu", "edu\n",
                                {"--dkms", std::string(VMRUN_SOURCE_DIR) + "/guest/modules/edu"});
  RunResult r = measure(image, "--vfio-pci " + address);
  ASSERT_TRUE(contains(r.out, "vmrun=0")) << describe(r);
  EXPECT_EQ(extract(image, "out/readings.csv"), kExpectedReadings);
  EXPECT_EQ(extract(image, "out/edu.txt"), "fact(10)=3628800\n");
}

}  // namespace
