// The guest kernel's command line: vmrun's defaults, the user's -p text, and
// the job's argv encoded per docs/guest-protocol.md.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "vmm/config.h"
#include "vmm/result.h"

namespace vmrun {

// Defaults for our machine: console on the UART, quiet unless a panic,
// reboot through the i8042 (which vmrun sees), and skip probes of hardware
// that is not there: no ACPI tables, no keyboard or mouse behind the i8042,
// no early PCI scan (each probe is a VM exit; the early AGP scan alone cost
// over a second in the lab).
inline constexpr const char* kBaseKernelParams =
    "console=ttyS0 8250.nr_uarts=1 loglevel=1 reboot=k panic=-1 "
    "io_delay=none no_timer_check acpi=off pci=noearly "
    "i8042.noaux i8042.nomux i8042.dumbkbd";

// Bytes outside [A-Za-z0-9._/:@+=-] as %XX (docs/guest-protocol.md).
std::string percent_encode(const std::string& text);

// --rootfs's tokens (docs/guest-protocol.md): vmrun.rootfs=DEVICE,
// vmrun.rootfs_rw=1, vmrun.rootfs_init=1, vmrun.env=, vmrun.cwd=,
// vmrun.user=; none without a rootfs.
std::vector<std::string> encode_rootfs(const RootfsConfig& rootfs);

// "vmrun.9p=TAG,PATH[,ro]": init mounts the 9p share TAG at PATH.
std::string encode_share(const std::string& tag, const std::string& guest_path,
                         bool read_only);

// "vmrun.net=MAC[,ADDR/PREFIX[,GW]]" or "vmrun.net=MAC,dhcp": init finds the
// interface by MAC and configures it.
std::string encode_network(const std::array<uint8_t, 6>& mac, const std::string& ip,
                           const std::string& gateway, bool dhcp);

// "vmrun.cmd=..." for argv; an empty argv gives an empty string (no token:
// init then runs a shell).
std::string encode_job_command(const std::vector<std::string>& argv);

// Base params, then `extra` (so the user can override, e.g. loglevel=7),
// then vmrun's own settings for init (`settings`, e.g. "vmrun.job=vda"),
// then the job token. Fails if the result exceeds the kernel's 2047 bytes.
Result<std::string> build_kernel_cmdline(
    const std::string& extra, const std::vector<std::string>& argv,
    const std::vector<std::string>& settings = {});

}  // namespace vmrun
