// The checks before a PCI function can be handed to a guest, read from the
// host's sysfs: the function exists, vfio-pci drives it, it has an IOMMU
// group, and every function in that group is safe to share (the group is
// "viable"). Nothing here changes the host; the errors say what to run.
#pragma once

#include <string>

#include "devices/vfio/pci_address.h"
#include "vmm/result.h"

namespace vmrun::devices::vfio {

struct HostDevice {
  PciAddress address;
  int group = -1;          // IOMMU group number: /dev/vfio/<group>
  std::string group_path;  // the group's character device
};

// `sysfs` and `dev` are the roots the host's /sys and /dev are found at
// (the unit tests pass a fake tree).
Result<HostDevice> check_host_device(const PciAddress& address,
                                     const std::string& sysfs = "/sys",
                                     const std::string& dev = "/dev");

}  // namespace vmrun::devices::vfio
