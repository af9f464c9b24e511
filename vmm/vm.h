// One VM: the composition root. create() builds everything in a fixed,
// written-out order (KVM, memory, boot image, devices, vCPUs); run() starts
// the vCPUs, feeds the console and waits for the stop; the destructor tears
// everything down in reverse.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include "devices/bus.h"
#include "devices/pci/pci_bus.h"
#include "devices/net/tap.h"
#include "devices/vfio/kernel_vfio.h"
#include "devices/vfio/passthrough.h"
#include "devices/virtio/virtio_pci.h"
#include "devices/uart16550.h"
#include "vmm/config.h"
#include "vmm/gdb/kvm_target.h"
#include "vmm/gdb/server.h"
#include "vmm/console.h"
#include "vmm/guest_memory.h"
#include "vmm/kvm.h"
#include "vmm/msi_router.h"
#include "vmm/passthrough_irqs.h"
#include "vmm/stop_signal.h"
#include "vmm/terminal.h"
#include "vmm/vcpu_thread.h"

namespace vmrun {

class Vm {
 public:
  // `console_fd` receives the guest console; `input_fd` (or -1) feeds it.
  // `started` is when vmrun started: boot milestones are logged (at info
  // level) relative to it, for docs/benchmarks.md.
  static Result<std::unique_ptr<Vm>> create(
      const VmConfig& config, int console_fd, int input_fd,
      std::chrono::steady_clock::time_point started);
  ~Vm();

  // Runs until the guest reports, resets, fails, or the timeout passes, or
  // `signal_fd` (a signalfd, or -1) delivers SIGTERM/SIGINT/SIGHUP.
  VmStop run(int signal_fd = -1);
  // When guest init reported its console ready, in ms since vmrun started.
  std::optional<double> boot_ms() const;
  // The guest's console also goes to this fd (--log).
  void set_console_log(int fd) { console_.set_log(fd); }
  // The taps in use, by device (for --result-json).
  std::vector<std::string> tap_names() const;

 private:
  Vm(const VmConfig& config, Kvm kvm, VmFd vm, int console_fd, int input_fd);
  Result<void> setup_memory();
  Result<void> load_boot_image();
  Result<void> setup_devices();
  Result<void> setup_disks();
  Result<void> add_virtio(std::unique_ptr<devices::virtio::VirtioDevice> device);
  Result<void> setup_vfio();
  void note_vhost_unavailable(const Error& why);
  Result<void> setup_vcpus();
  Result<void> setup_gdb();
  void pump_console_input();
  void stop_vcpus();
  // SIGUSR2: each virtio device's registers and rings, on stderr.
  void dump_state();
  double ms_since_start() const;
  void log_resources() const;

  VmConfig config_;
  Kvm kvm_;
  VmFd vm_;
  int input_fd_;
  int console_fd_;
  EscapeFilter escapes_;  // used when config_.interactive
  std::chrono::steady_clock::time_point started_;
  bool input_open_ = true;
  std::atomic<double> boot_ms_{-1};
  uint64_t entry_ = 0;
  std::unique_ptr<GuestMemory> memory_;
  ConsoleOutput console_;
  StopSignal stop_;
  // Written when guest init reports its console ready (exit port kind 3).
  UniqueFd ready_event_{eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};
  devices::Bus pio_{"pio"};
  devices::Bus mmio_{"mmio"};
  std::shared_ptr<devices::Uart16550> uart_;
  std::shared_ptr<devices::Uart16550> log_port_;  // with --log only
  MsiRouter msi_{vm_};
  uint32_t next_memory_slot_ = 0;
  PassthroughIrqs passthrough_irqs_{msi_, vm_};
  // Before pci_: the devices (and their fds) go first, then the container
  // unmaps DMA and lets the groups go, then guest RAM is freed.
  std::unique_ptr<devices::vfio::Container> vfio_;
  // After memory_: devices' worker threads stop before guest RAM goes away.
  // Before pci_, so destroyed after the devices: a tap vmrun created
  // disappears when its last fd (ours, after the devices' copies) closes.
  std::vector<std::unique_ptr<devices::net::Tap>> taps_;
  devices::pci::PciBus pci_;
  std::vector<std::shared_ptr<devices::virtio::VirtioPci>> virtio_;
  std::vector<std::unique_ptr<VcpuThread>> vcpus_;
  // After vcpus_, so gone before them: the stub's thread uses the target,
  // the target the vCPU threads.
  std::unique_ptr<gdb::KvmTarget> gdb_target_;
  std::unique_ptr<gdb::Server> gdb_server_;
};

}  // namespace vmrun
