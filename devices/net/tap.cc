#include "devices/net/tap.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

namespace vmrun::devices::net {
namespace {

constexpr int kVnetHeaderBytes = 12;  // virtio_net_hdr_mrg_rxbuf

Result<void> set_flags_up(const std::string& name) {
  UniqueFd s(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s.valid()) return Error::from_errno("socket");
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  if (ioctl(s.get(), SIOCGIFFLAGS, &ifr) < 0) return Error::from_errno("SIOCGIFFLAGS " + name);
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(s.get(), SIOCSIFFLAGS, &ifr) < 0) return Error::from_errno("SIOCSIFFLAGS " + name);
  return ok();
}

Result<void> set_address(const std::string& name, const std::string& cidr) {
  const size_t slash = cidr.find('/');
  const std::string addr = cidr.substr(0, slash);
  int prefix = 24;
  if (slash != std::string::npos) prefix = std::atoi(cidr.c_str() + slash + 1);
  UniqueFd s(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s.valid()) return Error::from_errno("socket");
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  auto* sin = reinterpret_cast<sockaddr_in*>(&ifr.ifr_addr);
  sin->sin_family = AF_INET;
  if (inet_pton(AF_INET, addr.c_str(), &sin->sin_addr) != 1 || prefix < 0 || prefix > 32) {
    return Error("-n host_ip=" + cidr + ": not an IPv4 ADDR/PREFIX");
  }
  if (ioctl(s.get(), SIOCSIFADDR, &ifr) < 0) return Error::from_errno("SIOCSIFADDR " + name);
  sin->sin_addr.s_addr = htonl(prefix == 0 ? 0 : ~0u << (32 - prefix));
  if (ioctl(s.get(), SIOCSIFNETMASK, &ifr) < 0) {
    return Error::from_errno("SIOCSIFNETMASK " + name);
  }
  return ok();
}

}  // namespace

Result<Tap> Tap::attach(const std::string& name, bool must_exist) {
  if (name.empty() || name.size() >= IFNAMSIZ) {
    return Error("-n tapif=" + name + ": not an interface name");
  }
  std::error_code ec;
  if (must_exist && !std::filesystem::exists("/sys/class/net/" + name, ec)) {
    return Error("-n tapif=" + name + ": no such network interface (create it with: ip tuntap add " +
                 name + " mode tap)");
  }
  UniqueFd fd(::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (!fd.valid()) return Error::from_errno("cannot open /dev/net/tun (is the tun module loaded?)");
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  if (ioctl(fd.get(), TUNSETIFF, &ifr) < 0) {
    const int err = errno;
    const std::string who = "-n tapif=" + name + ": ";
    if (err == EBUSY) return Error(who + "device busy: another process (another vmrun?) uses it");
    if (err == EPERM) return Error(who + "no permission (vmrun needs CAP_NET_ADMIN, or a tap " +
                                   "owned by this user: ip tuntap add " + name + " mode tap user $USER)");
    if (err == EINVAL) return Error(who + "not a tap device (a tun, or another kind of interface)");
    return Error::from_errno(who + "TUNSETIFF", err);
  }
  int hdr = kVnetHeaderBytes;
  if (ioctl(fd.get(), TUNSETVNETHDRSZ, &hdr) < 0) return Error::from_errno("TUNSETVNETHDRSZ");
  Tap tap(std::move(fd), ifr.ifr_name);
  VMRUN_TRY(tap.set_offload(0));  // nothing until the guest says what it handles
  return tap;
}

Result<Tap> Tap::open_existing(const std::string& name) { return attach(name, true); }

Result<Tap> Tap::create(int index, const std::string& host_ip) {
  const std::string name = "vmrun" + std::to_string(getpid() % 100000) + "n" + std::to_string(index);
  std::error_code ec;
  if (std::filesystem::exists("/sys/class/net/" + name, ec)) {
    return Error("-n: tap " + name + " already exists");
  }
  Tap tap = VMRUN_TRY(attach(name, false));
  if (!host_ip.empty()) VMRUN_TRY(set_address(tap.name(), host_ip));
  VMRUN_TRY(set_flags_up(tap.name()));
  return tap;
}

Result<void> Tap::set_offload(unsigned flags) {
  if (ioctl(fd_.get(), TUNSETOFFLOAD, flags) < 0) {
    return Error::from_errno("TUNSETOFFLOAD on " + name_);
  }
  return ok();
}

}  // namespace vmrun::devices::net
