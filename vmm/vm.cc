#include "vmm/vm.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

#include "vmm/guest_cmdline.h"
#include "vmm/x86/boot_params.h"
#include "vmm/x86/cpu_setup.h"
#include "vmm/x86/kernel_loader.h"
#include "vmm/x86/layout.h"
#include "vmm/x86/mptable.h"
#include "vmm/x86/page_tables.h"

namespace vmrun {
namespace {

Result<uint64_t> load_initrd(const std::string& path, const GuestMemory& mem,
                             uint64_t mem_size, uint64_t addr_max,
                             uint64_t kernel_end, uint64_t* size_out) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return Error::from_errno("cannot open initrd " + path);
  struct stat st;
  if (fstat(fd.get(), &st) < 0) return Error::from_errno("stat " + path);
  uint64_t size = static_cast<uint64_t>(st.st_size);
  uint64_t addr = VMRUN_TRY(x86::initrd_address(mem_size, size, addr_max,
                                                 kernel_end));
  auto dst = VMRUN_TRY(mem.slice(addr, size));
  // Read straight into guest RAM: no second copy of the initrd in vmrun.
  uint64_t done = 0;
  while (done < size) {
    ssize_t n = pread(fd.get(), dst.data() + done, size - done,
                      static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::from_errno("read initrd " + path);
    if (n == 0) return Error("initrd " + path + " shrank while being read");
    done += static_cast<uint64_t>(n);
  }
  *size_out = size;
  return addr;
}

}  // namespace

Vm::Vm(const VmConfig& config, Kvm kvm, VmFd vm, int console_fd, int input_fd)
    : config_(config),
      kvm_(std::move(kvm)),
      vm_(std::move(vm)),
      input_fd_(input_fd),
      console_fd_(console_fd),
      console_(console_fd) {}

Vm::~Vm() { stop_vcpus(); }

Result<std::unique_ptr<Vm>> Vm::create(
    const VmConfig& config, int console_fd, int input_fd,
    std::chrono::steady_clock::time_point started) {
  Kvm kvm = VMRUN_TRY(Kvm::open(config.kvm_device));
  int max_cpus = std::min(kvm.max_vcpus(), x86::kMaxMpCpus);
  if (config.cpus > max_cpus) {
    return Error("--cpus " + std::to_string(config.cpus) +
                 " is more than this host's KVM allows (" +
                 std::to_string(max_cpus) + ")");
  }
  VmFd vmfd = VMRUN_TRY(kvm.create_vm());
  std::unique_ptr<Vm> vm(
      new Vm(config, std::move(kvm), std::move(vmfd), console_fd, input_fd));
  vm->started_ = started;
  // The order matters to KVM: the TSS and irqchip before any vCPU exists.
  VMRUN_TRY(vm->vm_.set_tss_addr(x86::kTssAddr));
  if (vm->vm_.check_extension(KVM_CAP_SET_IDENTITY_MAP_ADDR)) {
    VMRUN_TRY(vm->vm_.set_identity_map_addr(x86::kIdentityMapAddr));
  }
  VMRUN_TRY(vm->vm_.create_irqchip());
  VMRUN_TRY(vm->vm_.create_pit2());
  VMRUN_TRY(vm->setup_memory());
  VMRUN_TRY(vm->load_boot_image());
  VMRUN_TRY(vm->setup_devices());
  VMRUN_TRY(vm->setup_disks());
  VMRUN_TRY(vm->setup_vfio());
  VMRUN_TRY(vm->setup_vcpus());
  if (!config.gdb.empty()) VMRUN_TRY(vm->setup_gdb());
  return vm;
}

Result<void> Vm::setup_memory() {
  const uint64_t size = config_.mem_mib << 20;
  memory_ = VMRUN_TRY(GuestMemory::create(x86::ram_regions(size)));
  for (const auto& r : memory_->regions()) {
    VMRUN_TRY(vm_.set_user_memory_region(next_memory_slot_++, r.gpa, r.size, r.host));
  }
  return ok();
}

Result<void> Vm::load_boot_image() {
  const uint64_t mem_size = config_.mem_mib << 20;
  auto kernel = VMRUN_TRY(x86::load_kernel_file(config_.kernel, *memory_));
  entry_ = kernel.entry;
  std::optional<x86::InitrdPlacement> initrd;
  if (!config_.initrd.empty()) {
    uint64_t size = 0;
    uint64_t addr = VMRUN_TRY(load_initrd(config_.initrd, *memory_, mem_size,
                                          kernel.initrd_addr_max, kernel.end,
                                          &size));
    initrd = x86::InitrdPlacement{addr, size};
  }
  std::vector<std::string> settings;
  for (const auto& net : config_.nets) {
    settings.push_back(encode_network(net.mac, net.ip, net.gateway, net.dhcp));
  }
  for (const auto& share : config_.shares) {
    if (share.rootfs) continue;  // mounted by init as the root (vmrun.rootfs)
    settings.push_back(encode_share(share.tag, share.guest_path, share.read_only));
  }
  for (const auto& s : encode_rootfs(config_.rootfs)) settings.push_back(s);
  // The kernel where vmlinux's symbols say, for gdb.
  if (!config_.gdb.empty()) settings.push_back("nokaslr");
  if (config_.guest_log_port) {
    // The later nr_uarts wins over the default's 1.
    settings.push_back("8250.nr_uarts=2");
    settings.push_back("vmrun.dmesg=ttyS1");
  }
  if (config_.has_job_image) {
    // The job image is the first virtio-blk disk (docs/guest-protocol.md).
    settings.push_back("vmrun.job=vda");
    if (config_.disks[0].read_only) settings.push_back("vmrun.job_ro=1");
  }
  std::string cmdline = VMRUN_TRY(
      build_kernel_cmdline(config_.params, config_.command, settings));
  spdlog::debug("kernel command line: {}", cmdline);
  VMRUN_TRY(memory_->write(
      x86::kCmdlineAddr,
      std::span(reinterpret_cast<const uint8_t*>(cmdline.c_str()),
                cmdline.size() + 1)));
  auto params = VMRUN_TRY(x86::make_boot_params(
      kernel.header, mem_size, x86::kCmdlineAddr,
      static_cast<uint32_t>(cmdline.size()), initrd));
  VMRUN_TRY(memory_->write_obj(x86::kZeroPageAddr, params));
  VMRUN_TRY(x86::write_identity_page_tables(*memory_));
  VMRUN_TRY(x86::write_boot_gdt(*memory_));
  return x86::write_mptable(*memory_, config_.cpus);
}

Result<void> Vm::setup_vcpus() {
  auto supported = VMRUN_TRY(kvm_.supported_cpuid());
  const bool tsc_deadline = kvm_.check_extension(KVM_CAP_TSC_DEADLINE_TIMER) > 0;
  for (int i = 0; i < config_.cpus; ++i) {
    auto fd = VMRUN_TRY(vm_.create_vcpu(i));
    VMRUN_TRY(fd->set_cpuid(
        x86::cpuid_for_vcpu(supported, i, config_.cpus, tsc_deadline)));
    VMRUN_TRY(x86::setup_lapic(*fd));
    // Only the boot CPU gets registers: the others wait for INIT/SIPI from
    // the guest, as on real hardware.
    if (i == 0) {
      VMRUN_TRY(x86::setup_boot_cpu(*fd, entry_, x86::kZeroPageAddr,
                                    x86::kPml4Addr));
    }
    vcpus_.push_back(std::make_unique<VcpuThread>(i, std::move(fd)));
  }
  return ok();
}

void Vm::pump_console_input() {
  uint8_t buf[4096];
  size_t room = std::min(sizeof buf, uart_->input_space());
  if (room == 0) {
    // The guest is not reading its console; wait instead of spinning on a
    // level-triggered readable stdin.
    usleep(10000);
    return;
  }
  // An escape held from the last read may add one byte to this one's.
  if (config_.interactive) {
    if (room < 2) {
      usleep(10000);
      return;
    }
    --room;
  }
  ssize_t n = ::read(input_fd_, buf, room);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n <= 0) {
    input_open_ = false;  // EOF or error: the guest simply gets no more input
    return;
  }
  const std::span<const uint8_t> got(buf, static_cast<size_t>(n));
  if (!config_.interactive) {
    uart_->input(got);
    return;
  }
  EscapeFilter::Output out = escapes_.feed(got);
  uart_->input(out.to_guest);
  if (out.help) {
    const std::string help = EscapeFilter::help_text();
    console_.flush();  // after what the guest printed before
    (void)!::write(console_fd_, help.data(), help.size());
  }
  if (out.quit) {
    devices::JobStatus s{};
    s.value = SIGINT;  // exit 130, as a shell reports a command stopped by ^C
    stop_.request({StopReason::kInterrupted, s, "Ctrl-A x"});
  }
}

double Vm::ms_since_start() const {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now() - started_)
      .count();
}

void Vm::log_resources() const {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const double peak_mib = static_cast<double>(usage.ru_maxrss) / 1024.0;
  const double guest_mib =
      static_cast<double>(memory_->resident_bytes()) / (1024.0 * 1024.0);
  spdlog::info("memory: peak RSS {:.1f} MiB, guest RAM touched {:.1f} MiB, "
               "vmrun's own {:.1f} MiB",
               peak_mib, guest_mib, peak_mib - guest_mib);
}

std::optional<double> Vm::boot_ms() const {
  const double ms = boot_ms_.load();
  if (ms < 0) return std::nullopt;
  return ms;
}

std::vector<std::string> Vm::tap_names() const {
  std::vector<std::string> names;
  for (const auto& t : taps_) names.push_back(t->name());
  return names;
}

VmStop Vm::run(int signal_fd) {
  VcpuThread::install_kick_handler();
  spdlog::info("boot: entering the guest at {:.1f} ms", ms_since_start());
  for (auto& v : vcpus_) v->start(pio_, mmio_, stop_);

  UniqueFd ep(epoll_create1(EPOLL_CLOEXEC));
  auto watch = [&ep](int fd) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    return epoll_ctl(ep.get(), EPOLL_CTL_ADD, fd, &ev) == 0;
  };
  watch(stop_.fd());
  watch(ready_event_.get());
  watch(console_.ready_fd());
  if (signal_fd >= 0) watch(signal_fd);
  // Console input waits until guest init says its console is configured
  // (docs/guest-protocol.md). A regular file or /dev/null cannot be polled
  // (EPERM): such input is read whenever the UART has room.
  bool input_started = false;
  bool input_polled = false;
  if (input_fd_ < 0) input_open_ = false;

  using Clock = std::chrono::steady_clock;
  std::optional<Clock::time_point> deadline;
  if (config_.timeout_seconds) {
    deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                  std::chrono::duration<double>(
                                      *config_.timeout_seconds));
  }
  while (!stop_.stopped()) {
    int wait_ms = 200;
    if (input_started && input_open_ && !input_polled) wait_ms = 10;
    if (deadline) {
      // Time gdb held the guest stopped does not count.
      const Clock::duration held = gdb_target_ ? gdb_target_->held_time() : Clock::duration{};
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          *deadline + held - Clock::now());
      if (left.count() <= 0) {
        char secs[32];
        snprintf(secs, sizeof secs, "%g", *config_.timeout_seconds);
        stop_.request({StopReason::kTimeout, {},
                       std::string("after ") + secs + " s"});
        break;
      }
      wait_ms = static_cast<int>(std::min<int64_t>(wait_ms, left.count()));
    }
    epoll_event events[5];
    int n = epoll_wait(ep.get(), events, 5, wait_ms);
    bool input_ready = input_started && input_open_ && !input_polled;
    for (int i = 0; i < n; ++i) {
      if (events[i].data.fd == signal_fd) {
        signalfd_siginfo si{};
        if (::read(signal_fd, &si, sizeof si) == sizeof si) {
          const int signo = static_cast<int>(si.ssi_signo);
          if (signo == SIGUSR2) {
            dump_state();
            continue;
          }
          devices::JobStatus s{};
          s.value = static_cast<uint8_t>(signo);
          const char* abbrev = sigabbrev_np(signo);
          stop_.request({StopReason::kInterrupted, s,
                         std::string("SIG") + (abbrev ? abbrev : std::to_string(signo))});
          // A second signal is not waited for: with the signals unblocked
          // and their default action, it ends vmrun at once (the kernel
          // still releases devices, taps and overlays with the fds).
          sigset_t set;
          sigemptyset(&set);
          for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, sig);
          pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
        }
      }
      if (events[i].data.fd == input_fd_) input_ready = true;
      if (events[i].data.fd == ready_event_.get() && !input_started) {
        input_started = true;
        epoll_ctl(ep.get(), EPOLL_CTL_DEL, ready_event_.get(), nullptr);
        input_polled = input_open_ && watch(input_fd_);
        // A polled fd is read when epoll says so: a read now could block
        // (a terminal nobody typed on).
        input_ready = input_open_ && !input_polled;
      }
    }
    // A partial line the guest printed (a prompt, an echo), when stdout
    // takes it; also retried each round.
    console_.flush_partial();
    if (input_ready) {
      pump_console_input();
      if (!input_open_ && input_polled) {
        epoll_ctl(ep.get(), EPOLL_CTL_DEL, input_fd_, nullptr);
      }
    }
  }
  if (gdb_target_) {
    // gdb sees the end (W) before the stub closes and the vCPUs go.
    gdb_target_->on_vm_end(exit_code(*stop_.result()));
    gdb_target_->wait_end_seen(2000);
    gdb_server_->stop();
  }
  stop_vcpus();
  console_.flush();  // the guest's last partial line
  spdlog::info("boot: guest stopped at {:.1f} ms", ms_since_start());
  if (spdlog::should_log(spdlog::level::info)) log_resources();
  VmStop result = *stop_.result();
  // A panic usually ends in a reset or triple fault: name it as a panic.
  if ((result.reason == StopReason::kTripleFault ||
       result.reason == StopReason::kGuestReset) &&
      result.detail.empty()) {
    result.detail = console_.panic_message().value_or("");
  }
  return result;
}

void Vm::stop_vcpus() {
  if (!stop_.stopped()) stop_.request({StopReason::kHostError, {}, "shut down"});
  for (auto& v : vcpus_) v->kick();
  for (auto& v : vcpus_) v->join();
}

}  // namespace vmrun
