// vmrun: boot a small VM, run one job in it, exit with the job's status.
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "devices/vfio/host_device.h"
#include "vmm/cli.h"
#include "vmm/host_check.h"
#include "vmm/vm.h"
#include "vmm/x86/kernel_loader.h"

namespace {

using vmrun::kExitVmrunError;

int fail(const std::string& message) {
  std::fprintf(stderr, "vmrun: %s\n", message.c_str());
  return kExitVmrunError;
}

// The image step's output: next to the binary (build/images beside
// build/vmrun) if present, else where this build put it.
std::string default_image_dir() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    auto beside = exe.parent_path() / "images";
    if (std::filesystem::exists(beside / "vmlinux", ec)) return beside;
  }
  return VMRUN_IMAGE_DIR;
}

uint64_t host_mem_mib() {
  long pages = sysconf(_SC_PHYS_PAGES);
  long page_size = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page_size <= 0) return UINT64_MAX;
  return static_cast<uint64_t>(pages) * static_cast<uint64_t>(page_size) >> 20;
}

void setup_logging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("vmrun");
  logger->set_pattern("vmrun: [%l] %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
}

}  // namespace

int main(int argc, char** argv) {
  const auto started = std::chrono::steady_clock::now();
  signal(SIGPIPE, SIG_IGN);  // a closed stdout must not kill the VMM
  std::vector<std::string> args(argv + 1, argv + argc);
  auto parsed = vmrun::parse_cli(args, {default_image_dir(), host_mem_mib()});
  if (!parsed) {
    return fail(parsed.error().message() + " (see vmrun --help)");
  }
  if (auto* info = std::get_if<vmrun::InfoRequest>(&parsed.value())) {
    std::fputs(info->text.c_str(), stdout);
    return 0;
  }
  auto& request = std::get<vmrun::RunRequest>(parsed.value());
  setup_logging(request.log_level);
  const vmrun::VmConfig& config = request.config;

  // Everything that can be checked without a VM is checked before one exists.
  if (auto r = vmrun::x86::check_kernel_file(config.kernel); !r) {
    return fail(r.error().message());
  }
  for (const auto& address : config.vfio) {
    if (auto r = vmrun::devices::vfio::check_host_device(address); !r) {
      return fail(r.error().message());
    }
  }
  if (access(config.kvm_device.c_str(), F_OK) != 0) {
    return fail(config.kvm_device +
                " does not exist: this host has no KVM (load kvm_intel or "
                "kvm_amd, or run in the nested lab: tests/lab/run)");
  }
  if (access(config.kvm_device.c_str(), R_OK | W_OK) != 0) {
    return fail("no permission to use " + config.kvm_device +
                " (add yourself to its group, usually kvm)");
  }
  const char* skip = std::getenv("VMRUN_SKIP_HOST_CHECK");
  if (skip == nullptr || std::string(skip) != "1") {
    if (auto r = vmrun::check_host_can_boot_linux(); !r) {
      return fail(r.error().message());
    }
  }

  auto vm = vmrun::Vm::create(config, STDOUT_FILENO, STDIN_FILENO, started);
  if (!vm) return fail(vm.error().message());
  vmrun::VmStop stop = (*vm)->run();
  vm.value().reset();  // stop and join every vCPU before reporting
  std::string why = vmrun::describe(stop);
  if (!why.empty()) std::fprintf(stderr, "vmrun: %s\n", why.c_str());
  return vmrun::exit_code(stop);
}
