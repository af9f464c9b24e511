#include "devices/net/vhost_net.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>

#include <cstring>
#include <string>
#include <vector>

namespace vmrun::devices::net {
namespace {

// linux/vhost.h does not compile as C++ (virtio_ring.h's inline C), so its
// ABI is spelled out here.
struct VringState {
  uint32_t index, num;
};
struct VringFile {
  uint32_t index;
  int32_t fd;
};
struct VringAddr {
  uint32_t index, flags;
  uint64_t desc, used, avail, log;
};
struct MemoryHeader {
  uint32_t nregions, padding;
};
struct MemoryRegion {
  uint64_t guest_phys_addr, memory_size, userspace_addr, flags_padding;
};
constexpr unsigned kVhost = 0xAF;
const unsigned long kGetFeatures = _IOR(kVhost, 0x00, uint64_t);
const unsigned long kSetFeatures = _IOW(kVhost, 0x00, uint64_t);
const unsigned long kSetOwner = _IO(kVhost, 0x01);
const unsigned long kSetMemTable = _IOW(kVhost, 0x03, MemoryHeader);
const unsigned long kSetVringNum = _IOW(kVhost, 0x10, VringState);
const unsigned long kSetVringAddr = _IOW(kVhost, 0x11, VringAddr);
const unsigned long kSetVringBase = _IOW(kVhost, 0x12, VringState);
const unsigned long kSetVringKick = _IOW(kVhost, 0x20, VringFile);
const unsigned long kSetVringCall = _IOW(kVhost, 0x21, VringFile);
const unsigned long kNetSetBackend = _IOW(kVhost, 0x30, VringFile);

Result<void> check(int rc, const char* what) {
  if (rc < 0) return Error::from_errno(std::string("vhost-net ") + what);
  return ok();
}

}  // namespace

Result<std::unique_ptr<VhostNet>> VhostNet::open() {
  UniqueFd fd(::open("/dev/vhost-net", O_RDWR | O_CLOEXEC));
  if (!fd.valid()) return Error::from_errno("cannot open /dev/vhost-net");
  std::unique_ptr<VhostNet> v(new VhostNet(std::move(fd)));
  VMRUN_TRY(check(ioctl(v->fd_.get(), kSetOwner), "SET_OWNER"));
  VMRUN_TRY(check(ioctl(v->fd_.get(), kGetFeatures, &v->features_), "GET_FEATURES"));
  for (auto& c : v->calls_) {
    c = UniqueFd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!c.valid()) return Error::from_errno("eventfd");
  }
  return v;
}

Result<void> VhostNet::start(const GuestMemory& mem, uint64_t features,
                             const std::array<Queue, 2>& queues, int tap_fd) {
  const int fd = fd_.get();
  uint64_t f = features & features_;
  VMRUN_TRY(check(ioctl(fd, kSetFeatures, &f), "SET_FEATURES"));
  const auto& regions = mem.regions();
  std::vector<uint8_t> table(sizeof(MemoryHeader) + regions.size() * sizeof(MemoryRegion));
  MemoryHeader head{static_cast<uint32_t>(regions.size()), 0};
  std::memcpy(table.data(), &head, sizeof head);
  for (size_t i = 0; i < regions.size(); ++i) {
    MemoryRegion r{regions[i].gpa, regions[i].size,
                   reinterpret_cast<uint64_t>(regions[i].host), 0};
    std::memcpy(table.data() + sizeof head + i * sizeof r, &r, sizeof r);
  }
  VMRUN_TRY(check(ioctl(fd, kSetMemTable, table.data()), "SET_MEM_TABLE"));
  for (uint32_t i = 0; i < 2; ++i) {
    const virtio::QueueConfig& c = queues[i].config;
    // Host addresses of the rings, checked against guest memory here.
    auto desc = VMRUN_TRY(mem.slice(c.desc, 16ull * c.size));
    auto avail = VMRUN_TRY(mem.slice(c.avail, 6 + 2ull * c.size));
    auto used = VMRUN_TRY(mem.slice(c.used, 6 + 8ull * c.size));
    VringState num{i, c.size};
    VMRUN_TRY(check(ioctl(fd, kSetVringNum, &num), "SET_VRING_NUM"));
    VringState base{i, 0};
    VMRUN_TRY(check(ioctl(fd, kSetVringBase, &base), "SET_VRING_BASE"));
    VringAddr addr{i, 0, reinterpret_cast<uint64_t>(desc.data()),
                   reinterpret_cast<uint64_t>(used.data()),
                   reinterpret_cast<uint64_t>(avail.data()), 0};
    VMRUN_TRY(check(ioctl(fd, kSetVringAddr, &addr), "SET_VRING_ADDR"));
    VringFile kick{i, queues[i].kick_fd};
    VMRUN_TRY(check(ioctl(fd, kSetVringKick, &kick), "SET_VRING_KICK"));
    VringFile call{i, queues[i].irq_fd >= 0 ? queues[i].irq_fd : calls_[i].get()};
    VMRUN_TRY(check(ioctl(fd, kSetVringCall, &call), "SET_VRING_CALL"));
  }
  for (uint32_t i = 0; i < 2; ++i) {
    VringFile backend{i, tap_fd};
    VMRUN_TRY(check(ioctl(fd, kNetSetBackend, &backend), "NET_SET_BACKEND"));
  }
  running_ = true;
  return ok();
}

void VhostNet::stop() {
  if (!running_) return;
  for (uint32_t i = 0; i < 2; ++i) {
    VringFile backend{i, -1};
    ioctl(fd_.get(), kNetSetBackend, &backend);
  }
  running_ = false;
}

}  // namespace vmrun::devices::net
