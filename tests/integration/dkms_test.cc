// Vendor driver packages in the guest (issue 13): modules built from DKMS
// source packages by `vmrun-mkjob --dkms`, loaded by name with what they
// depend on, and the guest kernel's whole module tree at
// /lib/modules/$(uname -r). The DKMS builds run on the host before any lab
// boots (tests/integration/prepare fills vmrun's cache); vmrun-mkjob finds
// them there.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "tests/support/integration.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace {

namespace fs = std::filesystem;
using namespace vmrun::test_support;
using vmrun::test_support::vmrun;  // not the namespace

const std::string kFixtures = std::string(VMRUN_SOURCE_DIR) + "/tests/dkms";

class DriverPackages : public ::testing::Test {
 protected:
  // A job image from a run script, a `modules` file and DKMS packages.
  std::string job(const std::string& modules, const std::string& run_script,
                  const std::vector<std::string>& dkms) {
    const fs::path dir = fs::path(tmp_.path()) / ("job" + std::to_string(jobs_++));
    fs::create_directories(dir);
    write_file(dir / "run", "#!/bin/sh\n" + run_script);
    chmod((dir / "run").c_str(), 0755);
    if (!modules.empty()) write_file(dir / "modules", modules);
    std::vector<std::string> argv = {VMRUN_MKJOB};
    for (const auto& d : dkms) {
      argv.push_back("--dkms");
      argv.push_back(d);
    }
    const std::string image = dir.string() + ".img";
    argv.push_back(dir.string());
    argv.push_back(image);
    RunResult r = run(argv);
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    return image;
  }

  TempDir tmp_;
  int jobs_ = 0;
};

// The two-package fixture shaped like NI's nipalk/NiViPciK: the job names
// only the consumer; modprobe semantics load the provider first.
TEST_F(DriverPackages, ConsumerPullsInItsProviderByName) {
  const std::string image = job(
      "card\n",
      "lsmod | grep -E '^(core|card) '\n"
      "echo tainted=$(cat /proc/sys/kernel/tainted)\n"
      "rmmod card core || exit 10\n"
      "modprobe core level=7 || exit 11\n"
      "cat /sys/module/core/parameters/level\n"
      "modprobe card || exit 12\n"
      "dmesg | grep -E 'vmrun-(core|card)|symbol|version'\n",
      {kFixtures + "/vmrun-core-1.0", kFixtures + "/vmrun-card-1.0"});
  RunResult r = vmrun({image});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  // lsmod: core is used by card (loaded for it, not by the job's list).
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"((^|\n)core +[0-9]+ +1 card)")))
      << describe(r);
  // Both init lines, in order, with the parameter's value; both exit lines.
  for (const char* line : {"vmrun-core: loaded, level=1", "vmrun-card: loaded, core says 41",
                           "vmrun-card: unloaded", "vmrun-core: unloaded",
                           "vmrun-core: loaded, level=7", "vmrun-card: loaded, core says 47"}) {
    EXPECT_TRUE(contains(r.out, line)) << line << "\n" << describe(r);
  }
  EXPECT_LT(r.out.find("vmrun-core: loaded, level=1"), r.out.find("vmrun-card: loaded, core says 41"));
  EXPECT_LT(r.out.find("vmrun-card: unloaded"), r.out.find("vmrun-core: unloaded"));
  EXPECT_TRUE(contains(r.out, "\n7\n")) << describe(r);
  // Built against the guest kernel's Module.symvers: no version mismatch,
  // no forced load (taint bit 1).
  EXPECT_FALSE(contains(r.out, "disagrees about version")) << describe(r);
  EXPECT_FALSE(contains(r.out, "no symbol version")) << describe(r);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex("tainted=([0-9]+)"))) << describe(r);
  EXPECT_EQ(std::stoul(m[1]) & 2u, 0u) << describe(r);
}

// A real Debian package, unpacked (not installed): its module needs the
// kernel's own videodev and mc, which come from the kernel's tree.
TEST_F(DriverPackages, RealDebianPackageLoadsWithTheKernelModulesItNeeds) {
  const char* debs = std::getenv("VMRUN_TEST_DEBS");
  ASSERT_NE(debs, nullptr) << "tests/integration/run exports VMRUN_TEST_DEBS";
  std::string src;
  for (const auto& e : fs::directory_iterator(std::string(debs) + "/v4l2loopback-dkms/usr/src")) {
    src = e.path().string();
  }
  ASSERT_FALSE(src.empty());
  const std::string image = job("v4l2loopback\n",
                                "test -c /dev/video0 && echo have-video0\n"
                                "lsmod | grep -E '^(videodev|v4l2loopback) '\n",
                                {src});
  RunResult r = vmrun({image});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_TRUE(contains(r.out, "have-video0")) << describe(r);
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(videodev +[0-9]+ +1 v4l2loopback)")))
      << describe(r);
}

// The kernel's own modules by name: from a job's `modules` file (with a
// parameter), and with modprobe in the job, and with no job image at all.
TEST_F(DriverPackages, KernelModulesByName) {
  const std::string image = job("dummy numdummies=3\n",
                                "echo dummies=$(ls /sys/class/net | grep -c '^dummy')\n"
                                "modprobe usbtmc && lsmod | grep -E '^(usbtmc|usbcore) '\n",
                                {});
  RunResult r = vmrun({image});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_TRUE(contains(r.out, "dummies=3")) << describe(r);
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(usbcore +[0-9]+ +1 usbtmc)"))) << describe(r);

  RunResult bare = vmrun({"--", "sh", "-c",
                          "modprobe vfio-pci && lsmod | grep -q '^vfio_pci ' && echo vfio-pci-loaded; "
                          "test -d /lib/modules/$(uname -r)/kernel/drivers && echo tree-there"});
  EXPECT_EQ(bare.exit_code, 0) << describe(bare);
  EXPECT_TRUE(contains(bare.out, "vfio-pci-loaded")) << describe(bare);
  EXPECT_TRUE(contains(bare.out, "tree-there")) << describe(bare);
}

// A `modules` line naming nothing the guest has stops the job with 125.
TEST_F(DriverPackages, UnknownModuleNameStopsTheJob) {
  const std::string image = job("no_such_driver\n", "echo the-job-ran\n", {});
  RunResult r = vmrun({image});
  EXPECT_EQ(r.exit_code, 125) << describe(r);
  EXPECT_TRUE(contains(r.err + r.out, "cannot load no_such_driver")) << describe(r);
  EXPECT_FALSE(contains(r.out, "the-job-ran")) << describe(r);
}

}  // namespace
