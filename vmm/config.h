// What one run asks for, after the command line is parsed and checked.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "devices/vfio/pci_address.h"

namespace vmrun {

struct DiskConfig {
  std::string path;
  bool read_only = false;
  bool snapshot = false;  // writes go to a throwaway overlay
};

// A host directory shared with the guest over virtio-9p (--9p).
struct ShareConfig {
  std::string dir;         // on the host
  std::string tag;         // the mount tag
  std::string guest_path;  // where guest init mounts it (default /mnt/TAG)
  bool read_only = false;
  // vmrun's own share of the guest kernel's module tree, not a --9p.
  bool module_tree = false;
  // A --rootfs directory: guest init mounts it itself (vmrun.rootfs=9p:TAG),
  // not as a share (no vmrun.9p token).
  bool rootfs = false;
};

// --rootfs: the job runs in this userland (vmm/rootfs.h).
struct RootfsConfig {
  std::string spec;  // as given: PATH[:NAME:TAG][,rw]; empty: no rootfs
  bool init = false;  // --rootfs-init: the image's own init is PID 1
  // Resolved by resolve_rootfs(): the guest's token, e.g. "vdb" or
  // "9p:vmrun-rootfs", and what the image's config asks for.
  std::string device;
  bool rw = false;
  std::vector<std::string> env;  // KEY=VALUE, in order
  std::string cwd;
  std::string user;
};

// The guest kernel's module tree (IMAGE_DIR/kernel-root/lib/modules/REL),
// shared read-only; guest init builds /lib/modules/REL from it.
inline constexpr const char* kModuleTreeTag = "vmrun-modules";
inline constexpr const char* kModuleTreeGuestPath = "/run/vmrun/modules";

// A virtio-net device on a tap (-n).
struct NetConfig {
  std::string tapif;  // an existing tap; empty: vmrun creates one for the run
  std::string host_ip;  // ADDR/PREFIX for the created tap's host side, or empty
  bool vhost = false;   // vhost=1: the kernel moves packets where it can
  std::array<uint8_t, 6> mac{};
  std::string ip;       // the guest's ADDR/PREFIX, or empty
  std::string gateway;  // the guest's default route, or empty
  bool dhcp = false;
};

struct VmConfig {
  std::string kernel;       // bzImage or ELF vmlinux
  // Its release, e.g. 6.1.0-41-amd64 (vmm/kernel_release.h); unset when it
  // cannot be told, and kernel_release_unknown says why.
  std::optional<std::string> kernel_release;
  std::string kernel_release_unknown;
  std::string initrd;       // may be empty: no initrd
  std::string params;       // extra kernel command line (-p)
  uint64_t mem_mib = 256;
  int cpus = 1;
  std::optional<double> timeout_seconds;
  std::string kvm_device = "/dev/kvm";
  std::vector<std::string> command;  // the job's argv; empty: a shell
  // Console input is a raw terminal: Ctrl-A escapes are vmrun's (-it).
  bool interactive = false;
  // A log is kept (--log): the guest gets a second UART whose output goes
  // only there, and init writes its kernel log to it when the job fails.
  bool guest_log_port = false;
  // --gdb: where the gdb stub listens ("tcp::1234"); empty: no stub.
  // --gdb-wait: the guest stays stopped until gdb lets it run.
  std::string gdb;
  bool gdb_wait = false;
  // virtio-blk disks in order (vda, vdb, ...). With a job image it is the
  // first, and init runs the job from it.
  std::vector<DiskConfig> disks;
  bool has_job_image = false;
  // PCI slots after the disks; the module tree, if any, is the last.
  std::vector<ShareConfig> shares;
  std::vector<NetConfig> nets;      // after the shares
  // Host PCI functions passed through with VFIO, in slot order after the disks.
  std::vector<devices::vfio::PciAddress> vfio;
  RootfsConfig rootfs;
};

}  // namespace vmrun
