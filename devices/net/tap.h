// A host tap device carrying the guest's Ethernet frames, each prefixed by
// a 12-byte virtio-net header (IFF_VNET_HDR), so checksum and segmentation
// offloads pass between the guest and the host's network stack unchanged.
#pragma once

#include <cstdint>
#include <string>

#include "vmm/result.h"
#include "vmm/unique_fd.h"

namespace vmrun::devices::net {

// TUNSETOFFLOAD bits, to be set from the guest's negotiated features.
constexpr unsigned kTapCsum = 0x01, kTapTso4 = 0x02, kTapTso6 = 0x04, kTapTsoEcn = 0x08;

class Tap {
 public:
  // Attaches to the existing tap `name`. Errors name the problem: missing,
  // busy (another process holds it), not a tap, no CAP_NET_ADMIN.
  static Result<Tap> open_existing(const std::string& name);
  // Creates a tap for this run ("vmrun-PID-N"); it goes away with the fd.
  // `host_ip` (ADDR/PREFIX or empty) is given to the host side.
  static Result<Tap> create(int index, const std::string& host_ip);

  int fd() const { return fd_.get(); }
  const std::string& name() const { return name_; }
  Result<void> set_offload(unsigned flags);

 private:
  Tap(UniqueFd fd, std::string name) : fd_(std::move(fd)), name_(std::move(name)) {}
  static Result<Tap> attach(const std::string& name, bool must_exist);

  UniqueFd fd_;
  std::string name_;
};

}  // namespace vmrun::devices::net
