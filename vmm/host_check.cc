#include "vmm/host_check.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

namespace vmrun {
namespace {

constexpr const char* kLabHint =
    "; run vmrun inside the nested lab instead: tests/lab/run build/vmrun "
    "[ARGS...] (see README)";

bool has_virtualization_flag(const std::string& cpuinfo_path) {
  std::ifstream in(cpuinfo_path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line);
    std::string w;
    while (words >> w) {
      if (w == "vmx" || w == "svm") return true;
    }
    return false;  // the first CPU's flags answer for all
  }
  return false;
}

}  // namespace

Result<void> check_host_can_boot_linux(const HostPaths& paths) {
  struct stat st;
  if (stat((paths.modules + "/kvm_pvm").c_str(), &st) == 0) {
    return Error(std::string("this host's KVM is PVM (kvm_pvm loaded), which "
                             "cannot boot a standard Linux guest") + kLabHint);
  }
  if (!has_virtualization_flag(paths.cpuinfo)) {
    return Error(std::string("this CPU shows no hardware virtualization "
                             "(no vmx or svm flag in ") + paths.cpuinfo +
                 "), so KVM cannot boot a Linux guest here" + kLabHint);
  }
  return ok();
}

}  // namespace vmrun
