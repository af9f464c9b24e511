// check_host_device against a fake sysfs and /dev in a temp dir: what a
// user sees when the device is missing, bound to the wrong driver, without
// an IOMMU group, in a group shared with host drivers, or when /dev/vfio/N
// is absent; and the group it finds when all is well.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "devices/vfio/host_device.h"
#include "tests/support/temp_dir.h"

namespace vmrun::devices::vfio {
namespace {

namespace fs = std::filesystem;

const PciAddress kAddr{0, 0x01, 0x00, 0};
const char kBdf[] = "0000:01:00.0";

// The parts of /sys and /dev check_host_device looks at, laid out as the
// kernel does: devices are directories with `driver` and `iommu_group`
// symlinks, a group lists its members as symlinks to them.
class FakeHost {
 public:
  FakeHost() { fs::create_directories(sys() / "bus/pci/drivers"); }

  fs::path sys() const { return fs::path(dir_.path()) / "sys"; }
  fs::path dev() const { return fs::path(dir_.path()) / "dev"; }
  fs::path device_dir(const std::string& bdf) const { return sys() / "bus/pci/devices" / bdf; }

  // A function with vendor/device IDs; `driver` empty: unbound.
  void add_device(const std::string& bdf, const std::string& driver,
                  const std::string& vendor = "0x1234", const std::string& device = "0x11e8") {
    fs::path d = device_dir(bdf);
    fs::create_directories(d);
    std::ofstream(d / "vendor") << vendor << "\n";
    std::ofstream(d / "device") << device << "\n";
    if (!driver.empty()) {
      fs::create_directories(sys() / "bus/pci/drivers" / driver);
      fs::create_directory_symlink("../../../../bus/pci/drivers/" + driver, d / "driver");
    }
  }

  // Puts `bdf` in IOMMU group `group` (the group's directory entry and the
  // device's iommu_group link).
  void join_group(const std::string& bdf, int group) {
    fs::path members = sys() / "kernel/iommu_groups" / std::to_string(group) / "devices";
    fs::create_directories(members);
    fs::create_directory_symlink(device_dir(bdf), members / bdf);
    fs::create_directory_symlink("../../../../kernel/iommu_groups/" + std::to_string(group),
                                 device_dir(bdf) / "iommu_group");
  }

  void add_group_node(int group) {
    fs::create_directories(dev() / "vfio");
    std::ofstream(dev() / "vfio" / std::to_string(group)) << "";
  }

  Result<HostDevice> check(const PciAddress& address = kAddr) const {
    return check_host_device(address, sys().string(), dev().string());
  }

 private:
  test_support::TempDir dir_;
};

std::string error_of(const Result<HostDevice>& r) {
  return r.ok() ? std::string("(no error)") : r.error().message();
}

bool has(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(VfioHostDeviceTest, DeviceBoundToVfioPciWithViableGroupIsAccepted) {
  FakeHost host;
  host.add_device(kBdf, "vfio-pci");
  host.join_group(kBdf, 7);
  host.add_group_node(7);
  auto r = host.check();
  ASSERT_TRUE(r.ok()) << error_of(r);
  EXPECT_EQ(r->address, kAddr);
  EXPECT_EQ(r->group, 7);
  EXPECT_EQ(r->group_path, (host.dev() / "vfio" / "7").string());
}

TEST(VfioHostDeviceTest, MissingDeviceSaysSoAndPointsAtLspci) {
  FakeHost host;
  host.add_device("0000:02:00.0", "vfio-pci");
  auto r = host.check();
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(has(error_of(r), "--vfio-pci 0000:01:00.0")) << error_of(r);
  EXPECT_TRUE(has(error_of(r), "no such PCI device")) << error_of(r);
  EXPECT_TRUE(has(error_of(r), "lspci")) << error_of(r);
}

TEST(VfioHostDeviceTest, DeviceBoundToAnotherDriverGetsUnbindAndNewIdCommands) {
  FakeHost host;
  host.add_device(kBdf, "e1000e", "0x8086", "0x10d3");
  host.join_group(kBdf, 3);
  host.add_group_node(3);
  auto r = host.check();
  ASSERT_FALSE(r.ok());
  const std::string msg = error_of(r);
  EXPECT_TRUE(has(msg, "bound to e1000e, not vfio-pci")) << msg;
  EXPECT_TRUE(has(msg, "modprobe vfio-pci")) << msg;
  EXPECT_TRUE(has(msg, "echo 0000:01:00.0 > /sys/bus/pci/devices/0000:01:00.0/driver/unbind"))
      << msg;
  EXPECT_TRUE(has(msg, "echo 8086 10d3 > /sys/bus/pci/drivers/vfio-pci/new_id")) << msg;
  EXPECT_LT(msg.find("unbind"), msg.find("new_id")) << "unbind comes first: " << msg;
}

TEST(VfioHostDeviceTest, UnboundDeviceGetsOnlyTheNewIdCommand) {
  FakeHost host;
  host.add_device(kBdf, "");
  host.join_group(kBdf, 3);
  host.add_group_node(3);
  auto r = host.check();
  ASSERT_FALSE(r.ok());
  const std::string msg = error_of(r);
  EXPECT_TRUE(has(msg, "not bound to any driver")) << msg;
  EXPECT_FALSE(has(msg, "unbind")) << "nothing to unbind: " << msg;
  EXPECT_TRUE(has(msg, "echo 1234 11e8 > /sys/bus/pci/drivers/vfio-pci/new_id")) << msg;
}

TEST(VfioHostDeviceTest, NoIommuGroupAsksWhetherTheIommuIsOn) {
  FakeHost host;
  host.add_device(kBdf, "vfio-pci");
  auto r = host.check();
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(has(error_of(r), "has no IOMMU group")) << error_of(r);
  EXPECT_TRUE(has(error_of(r), "intel_iommu=on")) << error_of(r);
}

TEST(VfioHostDeviceTest, GroupLinkNotEndingInANumberIsAnError) {
  FakeHost host;
  host.add_device(kBdf, "vfio-pci");
  fs::create_directory_symlink("../../../../kernel/iommu_groups/7abc",
                               host.device_dir(kBdf) / "iommu_group");
  auto r = host.check();
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(has(error_of(r), "unreadable IOMMU group link")) << error_of(r);
}

TEST(VfioHostDeviceTest, GroupMemberBoundToAHostDriverMakesTheGroupNotViable) {
  FakeHost host;
  host.add_device(kBdf, "vfio-pci");
  host.add_device("0000:01:00.1", "e1000e");
  host.add_device("0000:00:1c.0", "pcieport");
  host.join_group(kBdf, 12);
  host.join_group("0000:01:00.1", 12);
  host.join_group("0000:00:1c.0", 12);
  host.add_group_node(12);
  auto r = host.check();
  ASSERT_FALSE(r.ok());
  const std::string msg = error_of(r);
  EXPECT_TRUE(has(msg, "IOMMU group 12 is not viable")) << msg;
  EXPECT_TRUE(has(msg, "0000:01:00.1 (e1000e)")) << msg;
  EXPECT_FALSE(has(msg, "pcieport")) << "a bridge's port driver is harmless: " << msg;
  EXPECT_FALSE(has(msg, "0000:01:00.0 (")) << "the device itself is fine: " << msg;
  EXPECT_TRUE(has(msg, "bind them to vfio-pci")) << msg;
}

TEST(VfioHostDeviceTest, EveryBlockingGroupMemberIsListed) {
  FakeHost host;
  host.add_device(kBdf, "vfio-pci");
  host.add_device("0000:01:00.1", "snd_hda_intel");
  host.add_device("0000:01:00.2", "xhci_hcd");
  for (const char* bdf : {kBdf, "0000:01:00.1", "0000:01:00.2"}) host.join_group(bdf, 4);
  host.add_group_node(4);
  const std::string msg = error_of(host.check());
  EXPECT_TRUE(has(msg, "0000:01:00.1 (snd_hda_intel)")) << msg;
  EXPECT_TRUE(has(msg, "0000:01:00.2 (xhci_hcd)")) << msg;
}

TEST(VfioHostDeviceTest, MembersOnSafeDriversOrNoDriverKeepTheGroupViable) {
  FakeHost host;
  host.add_device(kBdf, "vfio-pci");
  host.add_device("0000:00:01.0", "pcieport");
  host.add_device("0000:01:00.1", "pci-stub");
  host.add_device("0000:01:00.2", "vfio-pci");
  host.add_device("0000:01:00.3", "");
  for (const char* bdf : {kBdf, "0000:00:01.0", "0000:01:00.1", "0000:01:00.2", "0000:01:00.3"}) {
    host.join_group(bdf, 9);
  }
  host.add_group_node(9);
  auto r = host.check();
  ASSERT_TRUE(r.ok()) << error_of(r);
  EXPECT_EQ(r->group, 9);
}

TEST(VfioHostDeviceTest, MissingGroupDeviceNodeAsksAboutTheVfioModule) {
  FakeHost host;
  host.add_device(kBdf, "vfio-pci");
  host.join_group(kBdf, 5);
  host.add_group_node(6);  // another group's node only
  auto r = host.check();
  ASSERT_FALSE(r.ok());
  const std::string msg = error_of(r);
  EXPECT_TRUE(has(msg, (host.dev() / "vfio" / "5").string() + " does not exist")) << msg;
  EXPECT_TRUE(has(msg, "vfio module")) << msg;
}

TEST(VfioHostDeviceTest, UnlistableGroupDirectoryIsAnError) {
  FakeHost host;
  host.add_device(kBdf, "vfio-pci");
  fs::create_directory_symlink("../../../../kernel/iommu_groups/8",
                               host.device_dir(kBdf) / "iommu_group");
  host.add_group_node(8);
  auto r = host.check();
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(has(error_of(r), "cannot list IOMMU group 8")) << error_of(r);
}

}  // namespace
}  // namespace vmrun::devices::vfio
