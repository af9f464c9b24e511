// PCI passthrough with a real device: QEMU's edu card, which the nested lab
// host has behind an emulated Intel IOMMU. The guest's job loads the edu
// driver (guest/modules) and runs edu-check, whose exit status names the
// check that failed. Skipped where there is no edu device (hardware hosts).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
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

const std::string kModules = std::string(VMRUN_IMAGE_DIR) + "/guest-modules";

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::string s;
  std::getline(in, s);
  return s;
}

bool put(const fs::path& p, const std::string& text) {
  std::ofstream out(p);
  out << text;
  out.flush();
  return out.good();
}

std::string driver_of(const std::string& bdf) {
  std::error_code ec;
  auto link = fs::read_symlink("/sys/bus/pci/devices/" + bdf + "/driver", ec);
  return ec ? "" : link.filename().string();
}

// The first edu device (1234:11e8) on this host, or "".
std::string find_edu() {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/sys/bus/pci/devices", ec)) {
    if (slurp(e.path() / "vendor") == "0x1234" && slurp(e.path() / "device") == "0x11e8") {
      return e.path().filename().string();
    }
  }
  return "";
}

// What an administrator does once per boot (vmrun never does it itself):
// hand the device to vfio-pci.
void bind_to_vfio(const std::string& bdf) {
  if (driver_of(bdf) == "vfio-pci") return;
  if (!driver_of(bdf).empty()) put("/sys/bus/pci/devices/" + bdf + "/driver/unbind", bdf);
  put("/sys/bus/pci/drivers/vfio-pci/new_id", "1234 11e8");  // binds unbound matches
  if (driver_of(bdf) != "vfio-pci") put("/sys/bus/pci/drivers/vfio-pci/bind", bdf);
}

class VfioTest : public ::testing::Test {
 protected:
  void SetUp() override {
    edu_ = find_edu();
    if (edu_.empty()) {
      GTEST_SKIP() << "no QEMU edu PCI device (1234:11e8) on this host; the nested "
                      "lab has one (tests/lab/run)";
    }
    if (!fs::exists("/sys/bus/pci/drivers/vfio-pci")) {
      GTEST_SKIP() << "vfio-pci is not loaded on this host";
    }
    bind_to_vfio(edu_);
    ASSERT_EQ(driver_of(edu_), "vfio-pci") << "cannot bind " << edu_ << " to vfio-pci";
  }

  // A job image carrying the edu driver and edu-check, running `run_script`.
  // The driver comes the way a vendor's does: its DKMS package built for the
  // guest kernel by vmrun-mkjob --dkms, loaded by name.
  std::string edu_job(const std::string& run_script) {
    const std::string dir = tmp_.path() + "/job" + std::to_string(jobs_++);
    fs::create_directories(dir);
    fs::copy_file(kModules + "/edu-check", dir + "/edu-check");
    put(dir + "/modules", "edu\n");
    put(dir + "/run", "#!/bin/sh\n" + run_script);
    chmod((dir + "/run").c_str(), 0755);
    const std::string image = dir + ".img";
    RunResult r = run({VMRUN_MKJOB, "--dkms", std::string(VMRUN_SOURCE_DIR) + "/guest/modules/edu",
                       dir, image});
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    return image;
  }

  std::string edu_;
  TempDir tmp_;
  int jobs_ = 0;
};

TEST_F(VfioTest, GuestDriverPassesEveryCheckWithMsi) {
  RunResult r = vmrun({"--vfio-pci", edu_, edu_job("exec ./edu-check\n")});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(r.out.find("edu-check: id 0x010000ed ok"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("edu-check: dma round trip of 4096 bytes ok"), std::string::npos);
  EXPECT_NE(r.out.find("edu-check: irq kind MSI ok"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("edu-check: all checks passed"), std::string::npos);
}

// CI runs job after job on one card: the second run gets a clean device,
// which only works if the first released the group, DMA and interrupts.
TEST_F(VfioTest, SameDeviceTwiceInARow) {
  std::string image = edu_job("exec ./edu-check\n");
  for (int i = 0; i < 2; ++i) {
    RunResult r = vmrun({"--vfio-pci", edu_, image});
    EXPECT_EQ(r.exit_code, 0) << "run " << i << ": " << describe(r);
  }
  EXPECT_EQ(driver_of(edu_), "vfio-pci");
}

// Without MSI the device interrupts through its pin: a level interrupt that
// VFIO masks until KVM's resample says the guest has handled it.
TEST_F(VfioTest, LegacyInterruptWorksWhenTheGuestHasNoMsi) {
  RunResult r = vmrun({"-p", "pci=nomsi", "--vfio-pci", edu_,
                       edu_job("exec ./edu-check --allow-intx\n")});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(r.out.find("edu-check: irq kind INTx ok"), std::string::npos) << r.out;
}

// Without the device passed through the driver finds nothing; edu-check
// says so with its own status.
TEST_F(VfioTest, JobStatusNamesTheMissingDevice) {
  RunResult r = vmrun({edu_job("exec ./edu-check\n")});
  EXPECT_EQ(r.exit_code, 10) << describe(r);
  EXPECT_NE(r.out.find("cannot open /dev/edu"), std::string::npos) << r.out;
}

// One device, one VM: a second vmrun asking for a held card is refused.
TEST_F(VfioTest, SecondVmGetsDeviceBusy) {
  std::string holder = edu_job("sleep 8; exec ./edu-check\n");
  std::string second = edu_job("exec ./edu-check\n");
  RunResult r = run({"/bin/sh", "-c",
                     "\"$0\" --vfio-pci \"$1\" \"$2\" >/dev/null & first=$!; sleep 4; "
                     "\"$0\" --vfio-pci \"$1\" \"$3\"; echo \"second=$?\"; "
                     "wait $first; echo \"first=$?\"",
                     VMRUN_BINARY, edu_, holder, second});
  EXPECT_NE(r.out.find("second=125"), std::string::npos) << describe(r);
  EXPECT_NE(r.err.find("busy"), std::string::npos) << describe(r);
  EXPECT_NE(r.out.find("first=0"), std::string::npos) << describe(r);
}

// A cancelled CI job (SIGTERM) releases the card: the next job gets it.
TEST_F(VfioTest, SigtermReleasesTheDeviceForTheNextRun) {
  RunResult r = run({"/bin/sh", "-c",
                     "\"$0\" --vfio-pci \"$1\" -- sleep 300 & pid=$!; sleep 10; kill -TERM $pid;"
                     "wait $pid; echo status=$?",
                     VMRUN_BINARY, edu_});
  EXPECT_TRUE(r.out.find("status=143") != std::string::npos) << describe(r);
  RunResult next = vmrun({"--vfio-pci", edu_, edu_job("exec ./edu-check\n")});
  EXPECT_EQ(next.exit_code, 0) << describe(next);
}

TEST_F(VfioTest, DeviceNotBoundToVfioIsRefusedWithTheFix) {
  ASSERT_TRUE(put("/sys/bus/pci/drivers/vfio-pci/unbind", edu_));
  RunResult r = vmrun({"--vfio-pci", edu_, "--", "true"});
  bind_to_vfio(edu_);  // as it was, for the other tests
  EXPECT_EQ(r.exit_code, 125) << describe(r);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("not bound to any driver"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("echo 1234 11e8 > /sys/bus/pci/drivers/vfio-pci/new_id"),
            std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST_F(VfioTest, MissingDeviceIsRefused) {
  RunResult r = vmrun({"--vfio-pci", "0000:7e:1f.7", "--", "true"});
  EXPECT_EQ(r.exit_code, 125) << describe(r);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "vmrun: --vfio-pci 0000:7e:1f.7: no such PCI device on this host "
                   "(lspci -D lists them)\n");
}

TEST_F(VfioTest, MalformedAddressIsRefused) {
  RunResult r = vmrun({"--vfio-pci", "01:00", "--", "true"});
  EXPECT_EQ(r.exit_code, 125) << describe(r);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("'01:00' is not a PCI address"), std::string::npos) << r.err;
}

}  // namespace
