// The kernel's VFIO: one container (one IOMMU address space for the whole
// guest, IOVA = guest physical), the IOMMU groups of the passed-through
// devices attached to it, and a DeviceIo per device fd.
#pragma once

#include <map>
#include <memory>
#include <vector>

#include "devices/vfio/device_io.h"
#include "devices/vfio/host_device.h"
#include "vmm/unique_fd.h"

namespace vmrun::devices::vfio {

class Container {
 public:
  // Opens /dev/vfio/vfio and checks it offers the type1v2 IOMMU.
  static Result<std::unique_ptr<Container>> open();
  // Unmaps all DMA, then detaches and closes the groups: the devices are
  // free for the next run.
  ~Container();
  Container(const Container&) = delete;
  Container& operator=(const Container&) = delete;

  // Attaches the device's group (once per group; the first one also sets
  // the IOMMU type), opens the device and resets it.
  Result<std::unique_ptr<DeviceIo>> open_device(const HostDevice& device);

  // Lets devices DMA to [iova, iova + size), backed by `host`; pins it.
  Result<void> map_dma(uint64_t iova, uint64_t size, void* host);

 private:
  explicit Container(UniqueFd fd) : fd_(std::move(fd)) {}
  Result<int> attach_group(const HostDevice& device);

  UniqueFd fd_;
  bool iommu_set_ = false;
  std::map<int, UniqueFd> groups_;
  std::vector<std::pair<uint64_t, uint64_t>> dma_;  // (iova, size)
};

}  // namespace vmrun::devices::vfio
