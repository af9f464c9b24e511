// What one run asks for, after the command line is parsed and checked.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace vmrun {

struct VmConfig {
  std::string kernel;       // bzImage or ELF vmlinux
  std::string initrd;       // may be empty: no initrd
  std::string params;       // extra kernel command line (-p)
  uint64_t mem_mib = 256;
  int cpus = 1;
  std::optional<double> timeout_seconds;
  std::string kvm_device = "/dev/kvm";
  std::vector<std::string> command;  // the job's argv; empty: a shell
};

}  // namespace vmrun
