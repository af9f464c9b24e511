// Vm's devices: the legacy ISA ones (UARTs, RTC, i8042, the exit port),
// virtio-blk disks, 9p shares and virtio-net (tap, vhost-net), each virtio
// device on the PCI bus with its MSI-X wiring, and VFIO passthrough.
#include <fcntl.h>
#include <linux/if_tun.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "devices/cmos_rtc.h"
#include "devices/disk.h"
#include "devices/exit_port.h"
#include "devices/i8042.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/net.h"
#include "devices/virtio/p9.h"
#include "vmm/vm.h"
#include "vmm/x86/layout.h"
#include "vmm/x86/mptable.h"

namespace vmrun {
namespace {

constexpr uint16_t kCom1Port = 0x3f8;
constexpr uint16_t kPciConfigPort = 0xcf8;
constexpr uint64_t kPciConfigPortSize = 8;
constexpr uint32_t kCom1Irq = 4;
// The log port (COM2): the guest kernel's log for --log on a failed job.
constexpr uint16_t kCom2Port = 0x2f8;
constexpr uint32_t kCom2Irq = 3;

}  // namespace

Result<void> Vm::setup_devices() {
  VmFd* vm = &vm_;
  // A UART on an ISA port and IRQ whose output goes to `sink`.
  auto add_uart = [&](uint16_t port, uint32_t irq,
                      std::function<void(std::span<const uint8_t>)> sink)
      -> Result<std::shared_ptr<devices::Uart16550>> {
    auto uart = std::make_shared<devices::Uart16550>(
        [vm, irq](bool level) {
          auto r = vm->irq_line(irq, level);
          if (!r) spdlog::warn("[uart {}] {}", irq, r.error().message());
        },
        std::move(sink));
    VMRUN_TRY(pio_.insert(uart, port, devices::Uart16550::kSize));
    return uart;
  };
  uart_ = VMRUN_TRY(add_uart(kCom1Port, kCom1Irq, [this](std::span<const uint8_t> bytes) {
    console_.write(bytes);
  }));
  if (config_.guest_log_port) {
    log_port_ = VMRUN_TRY(add_uart(kCom2Port, kCom2Irq, [this](std::span<const uint8_t> bytes) {
      console_.write_log(bytes);
    }));
  }

  StopSignal* stop = &stop_;
  ConsoleOutput* console = &console_;
  VMRUN_TRY(pio_.insert(
      std::make_shared<devices::I8042>([stop, console] {
        stop->request({StopReason::kGuestReset, {},
                       console->panic_message().value_or("")});
      }),
      devices::I8042::kDataPort, devices::I8042::kSize));
  VMRUN_TRY(pio_.insert(std::make_shared<devices::CmosRtc>(),
                        devices::CmosRtc::kPort, devices::CmosRtc::kSize));
  int ready_fd = ready_event_.get();
  VMRUN_TRY(pio_.insert(
      std::make_shared<devices::ExitPort>([this, stop, ready_fd](devices::JobStatus s) {
        if (s.kind == devices::JobEnd::kInitReady) {
          boot_ms_ = ms_since_start();
          spdlog::info("boot: guest init up at {:.1f} ms", boot_ms_.load());
          uint64_t one = 1;
          [[maybe_unused]] ssize_t n = ::write(ready_fd, &one, sizeof one);
          return;
        }
        stop->request({StopReason::kJobStatus, s, {}});
      }),
      devices::ExitPort::kPort, devices::ExitPort::kSize));
  VMRUN_TRY(pio_.insert(pci_.config_ports(), kPciConfigPort, kPciConfigPortSize));
  VMRUN_TRY(mmio_.insert(pci_.ecam(), devices::pci::PciBus::kEcamBase,
                         devices::pci::PciBus::kEcamSize));
  return ok();
}

Result<void> Vm::setup_disks() {
  for (size_t i = 0; i < config_.disks.size(); ++i) {
    const DiskConfig& d = config_.disks[i];
    auto backend = devices::open_disk({d.path, d.read_only, d.snapshot});
    if (!backend) return backend.error();
    const std::string name = "vd" + std::string(1, static_cast<char>('a' + i));
    VMRUN_TRY(add_virtio(std::make_unique<devices::virtio::VirtioBlk>(
        std::move(backend).value(), name, "vmrun-" + name)));
  }
  for (const auto& share : config_.shares) {
    auto server = VMRUN_TRY(devices::p9::Server::create(share.dir, share.read_only));
    VMRUN_TRY(add_virtio(
        std::make_unique<devices::virtio::Virtio9p>(std::move(server), share.tag)));
  }
  for (size_t i = 0; i < config_.nets.size(); ++i) {
    const NetConfig& net = config_.nets[i];
    auto tap = net.tapif.empty() ? devices::net::Tap::create(static_cast<int>(i), net.host_ip)
                                 : devices::net::Tap::open_existing(net.tapif);
    if (!tap) return tap.error();
    std::unique_ptr<devices::net::VhostNet> vhost;
    if (net.vhost) {
      auto v = devices::net::VhostNet::open();
      if (v) {
        vhost = std::move(v).value();
      } else {
        note_vhost_unavailable(v.error());
      }
    }
    UniqueFd packets(fcntl(tap->fd(), F_DUPFD_CLOEXEC, 0));
    if (!packets.valid()) return Error::from_errno("dup of the tap fd");
    const int tap_fd = tap->fd();
    const std::string name = "net" + std::to_string(i);
    spdlog::info("net{}: tap {}", i, tap->name());
    taps_.push_back(std::make_unique<devices::net::Tap>(std::move(tap).value()));
    VMRUN_TRY(add_virtio(std::make_unique<devices::virtio::VirtioNet>(
        std::move(packets), net.mac,
        [tap_fd](unsigned flags) -> Result<void> {
          if (ioctl(tap_fd, TUNSETOFFLOAD, flags) < 0) return Error::from_errno("TUNSETOFFLOAD");
          return ok();
        },
        name, std::move(vhost))));
  }
  return ok();
}

Result<void> Vm::add_virtio(std::unique_ptr<devices::virtio::VirtioDevice> device) {
  // One MSI-X vector per queue plus the configuration vector, each with its
  // own GSI and irqfd.
  auto gsis = std::make_shared<std::vector<uint32_t>>();
  for (size_t v = 0; v < device->num_queues() + 1; ++v) {
    gsis->push_back(VMRUN_TRY(msi_.allocate()));
  }
  MsiRouter* msi = &msi_;
  VmFd* vm = &vm_;
  auto intx_gsi = std::make_shared<uint32_t>(0);  // known once it has a slot
  devices::virtio::VirtioPci::Wiring wiring{
      [msi, gsis](uint16_t vector, uint64_t addr, uint32_t data) {
        if (vector >= gsis->size()) return;
        auto r = msi->set_route((*gsis)[vector], addr, data);
        if (!r) spdlog::warn("[msi] {}", r.error().message());
      },
      [msi, gsis](uint16_t vector) {
        if (vector < gsis->size()) msi->fire((*gsis)[vector]);
      },
      [vm, intx_gsi](bool level) {
        auto r = vm->irq_line(*intx_gsi, level);
        if (!r) spdlog::warn("[intx] {}", r.error().message());
      },
      [msi, gsis](uint16_t vector, bool masked) {
        if (vector >= gsis->size()) return;
        auto r = msi->set_masked((*gsis)[vector], masked);
        if (!r) spdlog::warn("[msi] {}", r.error().message());
      },
      [msi, gsis](uint16_t vector) {
        return vector < gsis->size() ? msi->eventfd((*gsis)[vector]) : -1;
      }};
  auto dev = VMRUN_TRY(devices::virtio::VirtioPci::create(std::move(device),
                                                          *memory_, wiring));
  int slot = VMRUN_TRY(pci_.add(dev, dev->bars(), mmio_));
  *intx_gsi = x86::pci_intx_gsi(slot);
  dev->config().set_interrupt_pin(1, static_cast<uint8_t>(*intx_gsi));
  const uint64_t bar0 = *dev->config().bar_address(0);
  for (size_t q = 0; q < dev->num_queues(); ++q) {
    // Linux writes the queue index as 16 bits; KVM matches that length.
    VMRUN_TRY(vm_.ioeventfd(bar0 + dev->notify_offset(q), 2, dev->notify_eventfd(q)));
  }
  virtio_.push_back(std::move(dev));
  return ok();
}

void Vm::note_vhost_unavailable(const Error& why) {
  static bool said = false;  // once per run, not per device
  if (!said) {
    spdlog::warn("vhost=1: {}; packets go through vmrun's own path instead", why.message());
    said = true;
  }
}

Result<void> Vm::setup_vfio() {
  if (config_.vfio.empty()) return ok();
  vfio_ = VMRUN_TRY(devices::vfio::Container::open());
  for (const auto& address : config_.vfio) {
    auto host = VMRUN_TRY(devices::vfio::check_host_device(address));
    auto device = VMRUN_TRY(vfio_->open_device(host));
    auto fn = VMRUN_TRY(devices::vfio::Passthrough::create(std::move(device),
                                                            passthrough_irqs_));
    int slot = VMRUN_TRY(pci_.add(fn, fn->bars(), mmio_));
    VMRUN_TRY(fn->attach_intx(x86::pci_intx_gsi(slot)));
    for (const auto& m : VMRUN_TRY(fn->map_bars())) {
      VMRUN_TRY(vm_.set_user_memory_region(next_memory_slot_++, m.gpa, m.size, m.host));
    }
    spdlog::info("vfio: {} at guest slot {}", address.to_string(), slot);
  }
  // The devices DMA to guest-physical addresses: map all of RAM at its
  // guest address. This pins it (the whole of --mem becomes resident).
  for (const auto& r : memory_->regions()) {
    VMRUN_TRY(vfio_->map_dma(r.gpa, r.size, r.host));
  }
  return ok();
}

}  // namespace vmrun
