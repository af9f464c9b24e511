#include "devices/vfio/kernel_vfio.h"

#include <fcntl.h>
#include <linux/vfio.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

namespace vmrun::devices::vfio {
namespace {

// One device fd. Region offsets into the fd come from REGION_INFO.
class KernelDevice final : public DeviceIo {
 public:
  KernelDevice(std::string name, UniqueFd fd, vfio_device_info info)
      : name_(std::move(name)), fd_(std::move(fd)), info_(info) {}

  ~KernelDevice() override {
    // Interrupts off and the device back to its reset state before the fd
    // closes (the kernel would do both too; doing it here makes the order
    // explicit: nothing can fire into a dying VM).
    for (uint32_t index : {kMsixIrq, kMsiIrq, kIntxIrq}) {
      if (irq_count(index) > 0) (void)set_irq_eventfds(index, {});
    }
    if (can_reset()) (void)reset();
    for (auto& [addr, size] : maps_) ::munmap(addr, size);
  }

  std::string name() const override { return name_; }

  Result<Region> region(uint32_t index) override {
    auto info = VMRUN_TRY(region_info(index));
    Region r;
    r.size = info.size;
    r.readable = info.flags & VFIO_REGION_INFO_FLAG_READ;
    r.writable = info.flags & VFIO_REGION_INFO_FLAG_WRITE;
    r.mappable = info.flags & VFIO_REGION_INFO_FLAG_MMAP;
    if (r.mappable && (info.flags & VFIO_REGION_INFO_FLAG_CAPS)) {
      r.mmap_areas = VMRUN_TRY(sparse_areas(index, info.argsz));
    }
    return r;
  }

  uint32_t irq_count(uint32_t index) override {
    vfio_irq_info info{};
    info.argsz = sizeof info;
    info.index = index;
    if (index >= info_.num_irqs || ioctl(fd_.get(), VFIO_DEVICE_GET_IRQ_INFO, &info) < 0) {
      return 0;
    }
    return info.count;
  }

  Result<void> read(uint32_t index, uint64_t offset, std::span<uint8_t> data) override {
    auto info = VMRUN_TRY(region_info(index));
    ssize_t n = ::pread(fd_.get(), data.data(), data.size(),
                        static_cast<off_t>(info.offset + offset));
    if (n != static_cast<ssize_t>(data.size())) return Error::from_errno("VFIO region read");
    return ok();
  }

  Result<void> write(uint32_t index, uint64_t offset, std::span<const uint8_t> data) override {
    auto info = VMRUN_TRY(region_info(index));
    ssize_t n = ::pwrite(fd_.get(), data.data(), data.size(),
                         static_cast<off_t>(info.offset + offset));
    if (n != static_cast<ssize_t>(data.size())) return Error::from_errno("VFIO region write");
    return ok();
  }

  Result<uint8_t*> map(uint32_t index, uint64_t offset, uint64_t size) override {
    auto info = VMRUN_TRY(region_info(index));
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd_.get(),
                     static_cast<off_t>(info.offset + offset));
    if (p == MAP_FAILED) return Error::from_errno("mmap of " + name_ + " region");
    maps_.emplace_back(p, size);
    return static_cast<uint8_t*>(p);
  }

  Result<void> set_irq_eventfds(uint32_t index, std::span<const int> fds) override {
    return set_irqs(index, fds.empty() ? VFIO_IRQ_SET_DATA_NONE : VFIO_IRQ_SET_DATA_EVENTFD,
                    VFIO_IRQ_SET_ACTION_TRIGGER, fds);
  }

  Result<void> set_intx_unmask_eventfd(int fd) override {
    int fds[1] = {fd};
    return set_irqs(kIntxIrq, VFIO_IRQ_SET_DATA_EVENTFD, VFIO_IRQ_SET_ACTION_UNMASK, fds);
  }

  bool can_reset() const override { return info_.flags & VFIO_DEVICE_FLAGS_RESET; }

  Result<void> reset() override {
    if (ioctl(fd_.get(), VFIO_DEVICE_RESET) < 0) {
      return Error::from_errno("VFIO_DEVICE_RESET " + name_);
    }
    return ok();
  }

 private:
  Result<vfio_region_info> region_info(uint32_t index) {
    auto it = regions_.find(index);
    if (it != regions_.end()) return it->second;
    vfio_region_info info{};
    info.argsz = sizeof info;
    info.index = index;
    if (index >= info_.num_regions) {
      info.size = 0;  // absent: reads as an empty region
    } else if (ioctl(fd_.get(), VFIO_DEVICE_GET_REGION_INFO, &info) < 0) {
      return Error::from_errno("VFIO_DEVICE_GET_REGION_INFO " + name_);
    }
    regions_[index] = info;
    return info;
  }

  // The sparse-mmap capability lists the parts of a region that may be
  // mapped (the kernel leaves out, for one, an MSI-X table it protects).
  // Parsed from raw bytes: the capability chain has no fixed C layout.
  Result<std::vector<std::pair<uint64_t, uint64_t>>> sparse_areas(uint32_t index,
                                                                   uint32_t argsz) {
    std::vector<std::pair<uint64_t, uint64_t>> areas;
    if (argsz <= sizeof(vfio_region_info) || argsz > 65536) return areas;
    std::vector<uint8_t> buf(argsz);
    vfio_region_info head{};
    head.argsz = argsz;
    head.index = index;
    std::memcpy(buf.data(), &head, sizeof head);
    if (ioctl(fd_.get(), VFIO_DEVICE_GET_REGION_INFO, buf.data()) < 0) {
      return Error::from_errno("VFIO_DEVICE_GET_REGION_INFO (caps) " + name_);
    }
    std::memcpy(&head, buf.data(), sizeof head);
    uint32_t at = head.cap_offset;
    for (int hops = 0; at != 0 && hops < 16; ++hops) {
      vfio_info_cap_header cap;
      if (at + sizeof cap > buf.size()) break;
      std::memcpy(&cap, buf.data() + at, sizeof cap);
      if (cap.id == VFIO_REGION_INFO_CAP_SPARSE_MMAP) {
        uint32_t nr = 0;
        size_t base = at + sizeof cap;
        if (base + 8 > buf.size()) break;
        std::memcpy(&nr, buf.data() + base, 4);
        for (uint32_t i = 0; i < nr && base + 8 + (i + 1) * 16 <= buf.size(); ++i) {
          uint64_t off, size;
          std::memcpy(&off, buf.data() + base + 8 + i * 16, 8);
          std::memcpy(&size, buf.data() + base + 8 + i * 16 + 8, 8);
          if (size) areas.emplace_back(off, size);
        }
        // An empty list would mean "nothing mappable"; keep that distinct
        // from "all of it" with a zero-size marker.
        if (areas.empty()) areas.emplace_back(0, 0);
        return areas;
      }
      at = cap.next;
    }
    return areas;
  }

  Result<void> set_irqs(uint32_t index, uint32_t data_flag, uint32_t action,
                        std::span<const int> fds) {
    std::vector<uint8_t> buf(sizeof(vfio_irq_set) + fds.size() * sizeof(int32_t));
    vfio_irq_set set{};
    set.argsz = static_cast<uint32_t>(buf.size());
    set.flags = data_flag | action;
    set.index = index;
    set.start = 0;
    set.count = static_cast<uint32_t>(fds.size());
    std::memcpy(buf.data(), &set, sizeof set);
    for (size_t i = 0; i < fds.size(); ++i) {
      int32_t fd = fds[i];
      std::memcpy(buf.data() + sizeof set + i * sizeof fd, &fd, sizeof fd);
    }
    if (ioctl(fd_.get(), VFIO_DEVICE_SET_IRQS, buf.data()) < 0) {
      return Error::from_errno("VFIO_DEVICE_SET_IRQS " + name_);
    }
    return ok();
  }

  std::string name_;
  UniqueFd fd_;
  vfio_device_info info_;
  std::map<uint32_t, vfio_region_info> regions_;
  std::vector<std::pair<void*, size_t>> maps_;
};

}  // namespace

Result<std::unique_ptr<Container>> Container::open() {
  UniqueFd fd(::open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC));
  if (!fd.valid()) {
    return Error::from_errno("cannot open /dev/vfio/vfio (is the vfio module loaded?)");
  }
  if (ioctl(fd.get(), VFIO_GET_API_VERSION) != VFIO_API_VERSION) {
    return Error("/dev/vfio/vfio speaks an unknown VFIO API version");
  }
  if (ioctl(fd.get(), VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) <= 0) {
    return Error("this host's VFIO has no type1v2 IOMMU (vfio_iommu_type1 not loaded?)");
  }
  return std::unique_ptr<Container>(new Container(std::move(fd)));
}

Container::~Container() {
  for (auto [iova, size] : dma_) {
    vfio_iommu_type1_dma_unmap unmap{};
    unmap.argsz = sizeof unmap;
    unmap.iova = iova;
    unmap.size = size;
    if (ioctl(fd_.get(), VFIO_IOMMU_UNMAP_DMA, &unmap) < 0) {
      spdlog::warn("VFIO_IOMMU_UNMAP_DMA: {}", std::strerror(errno));
    }
  }
  for (auto& [n, group] : groups_) ioctl(group.get(), VFIO_GROUP_UNSET_CONTAINER);
}

Result<int> Container::attach_group(const HostDevice& device) {
  auto it = groups_.find(device.group);
  if (it != groups_.end()) return it->second.get();
  const std::string who = "--vfio-pci " + device.address.to_string() + ": ";
  UniqueFd group(::open(device.group_path.c_str(), O_RDWR | O_CLOEXEC));
  if (!group.valid()) {
    if (errno == EBUSY) {
      return Error(who + "device busy: IOMMU group " + std::to_string(device.group) +
                   " is held by another process (another vmrun?)");
    }
    return Error::from_errno(who + "cannot open " + device.group_path);
  }
  vfio_group_status status{};
  status.argsz = sizeof status;
  if (ioctl(group.get(), VFIO_GROUP_GET_STATUS, &status) < 0) {
    return Error::from_errno(who + "VFIO_GROUP_GET_STATUS");
  }
  if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
    return Error(who + "IOMMU group " + std::to_string(device.group) +
                 " is not viable: bind every function in it to vfio-pci");
  }
  int container = fd_.get();
  if (ioctl(group.get(), VFIO_GROUP_SET_CONTAINER, &container) < 0) {
    return Error::from_errno(who + "VFIO_GROUP_SET_CONTAINER");
  }
  if (!iommu_set_) {
    if (ioctl(fd_.get(), VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) < 0) {
      ioctl(group.get(), VFIO_GROUP_UNSET_CONTAINER);
      return Error::from_errno(who + "VFIO_SET_IOMMU type1v2");
    }
    iommu_set_ = true;
  }
  int fd = group.get();
  groups_.emplace(device.group, std::move(group));
  return fd;
}

Result<std::unique_ptr<DeviceIo>> Container::open_device(const HostDevice& device) {
  int group = VMRUN_TRY(attach_group(device));
  const std::string bdf = device.address.to_string();
  UniqueFd fd(ioctl(group, VFIO_GROUP_GET_DEVICE_FD, bdf.c_str()));
  if (!fd.valid()) {
    if (errno == EBUSY) {
      return Error("--vfio-pci " + bdf + ": device busy: held by another process");
    }
    return Error::from_errno("--vfio-pci " + bdf + ": VFIO_GROUP_GET_DEVICE_FD");
  }
  vfio_device_info info{};
  info.argsz = sizeof info;
  if (ioctl(fd.get(), VFIO_DEVICE_GET_INFO, &info) < 0) {
    return Error::from_errno("--vfio-pci " + bdf + ": VFIO_DEVICE_GET_INFO");
  }
  if (!(info.flags & VFIO_DEVICE_FLAGS_PCI)) {
    return Error("--vfio-pci " + bdf + ": not a PCI device as VFIO sees it");
  }
  auto dev = std::make_unique<KernelDevice>(bdf, std::move(fd), info);
  // Start from a known state: whatever the last user (another guest, the
  // host driver) left in the device is gone.
  if (dev->can_reset()) {
    if (auto r = dev->reset(); !r) spdlog::warn("{}", r.error().message());
  }
  return std::unique_ptr<DeviceIo>(std::move(dev));
}

Result<void> Container::map_dma(uint64_t iova, uint64_t size, void* host) {
  vfio_iommu_type1_dma_map map{};
  map.argsz = sizeof map;
  map.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
  map.vaddr = reinterpret_cast<uint64_t>(host);
  map.iova = iova;
  map.size = size;
  if (ioctl(fd_.get(), VFIO_IOMMU_MAP_DMA, &map) < 0) {
    return Error::from_errno("VFIO_IOMMU_MAP_DMA of guest RAM (locked memory limit? ulimit -l)");
  }
  dma_.emplace_back(iova, size);
  return ok();
}

}  // namespace vmrun::devices::vfio
