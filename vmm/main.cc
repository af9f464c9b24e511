// vmrun: boot a small VM, run one job in it, exit with the job's status.
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "devices/vfio/host_device.h"
#include "vmm/cli.h"
#include "vmm/host_check.h"
#include "vmm/job_image.h"
#include "vmm/rootfs.h"
#include "vmm/run_report.h"
#include "vmm/terminal.h"
#include "vmm/unique_fd.h"
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

// vmrun-rootfs, which converts image archives for --rootfs: beside this
// binary (both in build/), or VMRUN_ROOTFS_TOOL.
std::string rootfs_tool() {
  if (const char* tool = std::getenv("VMRUN_ROOTFS_TOOL"); tool != nullptr && *tool != '\0') {
    return tool;
  }
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("vmrun-rootfs") : (exe.parent_path() / "vmrun-rootfs").string();
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
    const std::string message = parsed.error().message() + " (see vmrun --help)";
    // A CI wrapper reads the result file even when the command line was
    // bad: find it by hand, as parsing failed.
    for (size_t i = 0; i < args.size(); ++i) {
      std::string path;
      if (args[i] == "--") break;
      if (args[i] == "--result-json" && i + 1 < args.size()) path = args[i + 1];
      if (args[i].rfind("--result-json=", 0) == 0) path = args[i].substr(14);
      if (path.empty()) continue;
      vmrun::RunReport report;
      report.exit_status = kExitVmrunError;
      report.reason = "error";
      report.detail = message;
      (void)vmrun::write_run_report(path, report, vmrun::VmConfig{});
    }
    return fail(message);
  }
  if (auto* info = std::get_if<vmrun::InfoRequest>(&parsed.value())) {
    std::fputs(info->text.c_str(), stdout);
    return 0;
  }
  auto& request = std::get<vmrun::RunRequest>(parsed.value());
  setup_logging(request.log_level);
  vmrun::VmConfig& config = request.config;

  // SIGTERM, SIGINT and SIGHUP are blocked in every thread from here (the
  // vCPU and device threads inherit the mask) and read by the run loop from
  // a signalfd: the guest is stopped and everything released in order.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  // SIGUSR2 asks for a dump of the devices' state on stderr (a stuck guest).
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGUSR2}) sigaddset(&stop_signals, sig);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  vmrun::UniqueFd signal_fd(signalfd(-1, &stop_signals, SFD_CLOEXEC | SFD_NONBLOCK));

  vmrun::RunReport report;
  auto finish = [&](int status) {
    report.exit_status = status;
    report.wall_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (!request.result_json.empty()) {
      if (auto r = vmrun::write_run_report(request.result_json, report, config); !r) {
        std::fprintf(stderr, "vmrun: %s\n", r.error().message().c_str());
      }
    }
    return status;
  };
  auto setup_failed = [&](const std::string& message) {
    report.reason = "error";
    report.detail = message;
    return finish(fail(message));
  };

  // Everything that can be checked without a VM is checked before one exists.
  if (auto r = vmrun::x86::check_kernel_file(config.kernel); !r) {
    return setup_failed(r.error().message());
  }
  if (config.has_job_image) {
    auto r = vmrun::check_job_image_kernel(config.disks[0].path, config.kernel_release,
                                           config.kernel_release_unknown);
    if (!r) return setup_failed(r.error().message());
  }
  if (!config.rootfs.spec.empty()) {
    if (auto r = vmrun::resolve_rootfs(config, rootfs_tool()); !r) {
      return setup_failed(r.error().message());
    }
  }
  for (const auto& address : config.vfio) {
    if (auto r = vmrun::devices::vfio::check_host_device(address); !r) {
      return setup_failed(r.error().message());
    }
  }
  if (access(config.kvm_device.c_str(), F_OK) != 0) {
    return setup_failed(config.kvm_device +
                        " does not exist: this host has no KVM (load kvm_intel or "
                        "kvm_amd, or run in the nested lab: tests/lab/run)");
  }
  if (access(config.kvm_device.c_str(), R_OK | W_OK) != 0) {
    return setup_failed("no permission to use " + config.kvm_device +
                        " (add yourself to its group, usually kvm)");
  }
  const char* skip = std::getenv("VMRUN_SKIP_HOST_CHECK");
  if (skip == nullptr || std::string(skip) != "1") {
    if (auto r = vmrun::check_host_can_boot_linux(); !r) {
      return setup_failed(r.error().message());
    }
  }
  vmrun::UniqueFd log_fd;
  if (!request.log_file.empty()) {
    log_fd = vmrun::UniqueFd(
        open(request.log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!log_fd.valid()) {
      return setup_failed("--log: cannot write " + request.log_file + ": " +
                          std::strerror(errno));
    }
  }
  if (!config.shares.empty()) {
    // Each file the guest holds open on a share is a descriptor here.
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
      rl.rlim_cur = rl.rlim_max;
      setrlimit(RLIMIT_NOFILE, &rl);
    }
  }

  config.guest_log_port = log_fd.valid();
  // -it, or by default on a terminal: raw mode for the run, and back
  // before vmrun's last line.
  const bool on_terminal = vmrun::stdio_is_terminal();
  if (request.interactive == vmrun::Interactive::kOn && !on_terminal) {
    return setup_failed("-it: stdin and stdout must be a terminal");
  }
  config.interactive = request.interactive == vmrun::Interactive::kOn ||
                       (request.interactive == vmrun::Interactive::kAuto && on_terminal);
  std::optional<vmrun::RawTerminal> raw;
  if (config.interactive) {
    auto entered = vmrun::RawTerminal::enter(STDIN_FILENO);
    if (!entered) return setup_failed(entered.error().message());
    raw.emplace(std::move(entered).value());
  }
  auto vm = vmrun::Vm::create(config, STDOUT_FILENO, STDIN_FILENO, started);
  if (!vm) {
    raw.reset();
    return setup_failed(vm.error().message());
  }
  if (log_fd.valid()) (*vm)->set_console_log(log_fd.get());
  vmrun::VmStop stop = (*vm)->run(signal_fd.get());
  report.taps = (*vm)->tap_names();
  if (auto ms = (*vm)->boot_ms()) report.boot_seconds = *ms / 1000;
  vm.value().reset();  // stop and join every vCPU before reporting
  raw.reset();
  std::string why = vmrun::describe(stop);
  if (!why.empty()) {
    const std::string line = "vmrun: " + why + "\n";
    std::fputs(line.c_str(), stderr);
    // The log ends with why the run ended, when the job did not say.
    if (log_fd.valid()) (void)!::write(log_fd.get(), line.data(), line.size());
  }
  report.reason = vmrun::reason_name(stop);
  report.detail = why;
  if (stop.reason == vmrun::StopReason::kJobStatus &&
      stop.job.kind != vmrun::devices::JobEnd::kInitFailed) {
    report.job_status = stop.job.value;
  }
  return finish(vmrun::exit_code(stop));
}
