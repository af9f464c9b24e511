// Can this host's KVM boot a Linux guest? A PVM-style nested KVM (module
// kvm_pvm, no vmx/svm flag in /proc/cpuinfo) creates VMs but cannot run a
// normal Linux guest: the guest would crawl and die. Detect that up front and
// say what to do instead of starting a guest that never boots.
#pragma once

#include <string>

#include "vmm/result.h"

namespace vmrun {

struct HostPaths {
  std::string cpuinfo = "/proc/cpuinfo";
  std::string modules = "/sys/module";
};

Result<void> check_host_can_boot_linux(const HostPaths& paths = {});

}  // namespace vmrun
