#include "devices/vfio/host_device.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <vector>

namespace vmrun::devices::vfio {
namespace {

namespace fs = std::filesystem;

// Drivers the kernel lets share an IOMMU group with a vfio device (see
// vfio_dev_driver_allowed in the kernel): they do no DMA of their own.
const std::set<std::string> kSafeDrivers = {"vfio-pci", "pci-stub", "pcieport"};

std::string driver_of(const fs::path& device) {
  std::error_code ec;
  fs::path link = fs::read_symlink(device / "driver", ec);
  return ec ? std::string() : link.filename().string();
}

std::string read_id(const fs::path& file) {
  std::ifstream in(file);
  std::string v;
  in >> v;
  if (v.rfind("0x", 0) == 0) v = v.substr(2);
  return v;
}

}  // namespace

Result<HostDevice> check_host_device(const PciAddress& address,
                                     const std::string& sysfs,
                                     const std::string& dev) {
  const std::string bdf = address.to_string();
  const std::string prefix = "--vfio-pci " + bdf + ": ";
  const fs::path device = fs::path(sysfs) / "bus/pci/devices" / bdf;
  std::error_code ec;
  if (!fs::exists(device, ec)) {
    return Error(prefix + "no such PCI device on this host (lspci -D lists them)");
  }
  const std::string driver = driver_of(device);
  if (driver != "vfio-pci") {
    // The usual hand-over: unbind from the current driver, then let vfio-pci
    // claim the vendor:device pair (new_id binds every unbound match).
    const std::string ids = read_id(device / "vendor") + " " + read_id(device / "device");
    std::string steps = "modprobe vfio-pci; ";
    if (!driver.empty()) {
      steps += "echo " + bdf + " > /sys/bus/pci/devices/" + bdf + "/driver/unbind; ";
    }
    steps += "echo " + ids + " > /sys/bus/pci/drivers/vfio-pci/new_id";
    return Error(prefix +
                 (driver.empty() ? std::string("not bound to any driver")
                                 : "bound to " + driver) +
                 ", not vfio-pci; hand it over with: " + steps);
  }
  fs::path group_link = fs::read_symlink(device / "iommu_group", ec);
  if (ec) {
    return Error(prefix + "has no IOMMU group: is the IOMMU enabled "
                          "(intel_iommu=on or amd_iommu=on on the host's kernel command line)?");
  }
  int group = -1;
  try {
    size_t used = 0;
    const std::string name = group_link.filename().string();
    group = std::stoi(name, &used);
    if (used != name.size() || group < 0) group = -1;
  } catch (const std::exception&) {
  }
  if (group < 0) return Error(prefix + "unreadable IOMMU group link " + group_link.string());

  // Every function in the group must be harmless, or the kernel refuses the
  // group as a whole ("not viable").
  std::vector<std::string> blockers;
  const fs::path members = fs::path(sysfs) / "kernel/iommu_groups" /
                           std::to_string(group) / "devices";
  for (const auto& entry : fs::directory_iterator(members, ec)) {
    std::string d = driver_of(entry.path());
    if (!d.empty() && !kSafeDrivers.count(d)) {
      blockers.push_back(entry.path().filename().string() + " (" + d + ")");
    }
  }
  if (ec) return Error(prefix + "cannot list IOMMU group " + std::to_string(group));
  if (!blockers.empty()) {
    std::string list;
    for (const auto& b : blockers) list += (list.empty() ? "" : ", ") + b;
    return Error(prefix + "IOMMU group " + std::to_string(group) +
                 " is not viable: these functions share it and are bound to "
                 "host drivers: " + list + "; bind them to vfio-pci too");
  }
  HostDevice host{address, group, (fs::path(dev) / "vfio" / std::to_string(group)).string()};
  if (!fs::exists(host.group_path, ec)) {
    return Error(prefix + host.group_path + " does not exist (is the vfio module loaded?)");
  }
  return host;
}

}  // namespace vmrun::devices::vfio
