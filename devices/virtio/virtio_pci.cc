#include "devices/virtio/virtio_pci.h"

#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace vmrun::devices::virtio {
namespace {

// Common configuration register offsets (virtio 1.x, 4.1.4.3).
constexpr uint64_t kDeviceFeatureSelect = 0, kDeviceFeature = 4,
                   kDriverFeatureSelect = 8, kDriverFeature = 12,
                   kConfigMsixVector = 16, kNumQueues = 18, kDeviceStatus = 20,
                   kConfigGeneration = 21, kQueueSelect = 22, kQueueSize = 24,
                   kQueueMsixVector = 26, kQueueEnable = 28,
                   kQueueNotifyOff = 30, kQueueDesc = 32, kQueueDriver = 40,
                   kQueueDevice = 48, kCommonSize = 56;

constexpr uint8_t kStatusDriverOk = 4, kStatusFeaturesOk = 8,
                  kStatusNeedsReset = 64;
constexpr uint16_t kNoVector = 0xffff;
constexpr uint8_t kIsrQueue = 1;
constexpr uint8_t kCapVendor = 0x09;
constexpr uint8_t kCfgCommon = 1, kCfgNotify = 2, kCfgIsr = 3, kCfgDevice = 4;
constexpr uint16_t kPciCommandIntxDisable = 0x400;

// The body of a virtio_pci_cap after cap_vndr and cap_next.
std::vector<uint8_t> virtio_cap(uint8_t type, uint32_t offset, uint32_t length,
                                std::optional<uint32_t> multiplier = {}) {
  std::vector<uint8_t> body(14 + (multiplier ? 4 : 0));
  body[0] = static_cast<uint8_t>(body.size() + 2);  // cap_len
  body[1] = type;
  body[2] = 0;  // BAR 0
  std::memcpy(&body[6], &offset, 4);
  std::memcpy(&body[10], &length, 4);
  if (multiplier) std::memcpy(&body[14], &*multiplier, 4);
  return body;
}

uint32_t class_for(uint16_t device_id) {
  switch (device_id) {
    case 1: return 0x020000;  // network controller
    case 2: return 0x018000;  // mass storage, other
    default: return 0xff0000;
  }
}

class BarHandler : public BusDevice {
 public:
  explicit BarHandler(std::weak_ptr<VirtioPci> dev) : dev_(std::move(dev)) {}
  void read(uint64_t offset, std::span<uint8_t> data) override {
    if (auto d = dev_.lock()) d->bar_read(offset, data);
  }
  void write(uint64_t offset, std::span<const uint8_t> data) override {
    if (auto d = dev_.lock()) d->bar_write(offset, data);
  }

 private:
  std::weak_ptr<VirtioPci> dev_;
};

}  // namespace

Result<std::shared_ptr<VirtioPci>> VirtioPci::create(
    std::unique_ptr<VirtioDevice> device, const GuestMemory& mem,
    Wiring wiring) {
  std::shared_ptr<VirtioPci> dev(new VirtioPci(std::move(device), mem, std::move(wiring)));
  for (auto& q : dev->queues_) {
    q.notify.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!q.notify.valid()) return Error::from_errno("eventfd");
  }
  dev->stop_event_.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!dev->stop_event_.valid()) return Error::from_errno("eventfd");
  return dev;
}

VirtioPci::VirtioPci(std::unique_ptr<VirtioDevice> device, const GuestMemory& mem,
                     Wiring wiring)
    : device_(std::move(device)),
      mem_(mem),
      wiring_(std::move(wiring)),
      config_(pci::kVendorVirtio, static_cast<uint16_t>(0x1040 + device_->device_id()),
              class_for(device_->device_id()), 1, pci::kVendorVirtio,
              device_->device_id()),
      msix_(static_cast<uint16_t>(device_->num_queues() + 1), wiring_.route,
            wiring_.fire, wiring_.mask),
      queues_(device_->num_queues()) {
  const uint32_t notify_len =
      static_cast<uint32_t>(device_->num_queues() * kNotifyMultiplier);
  config_.add_capability(kCapVendor, virtio_cap(kCfgCommon, kCommonOffset, kCommonSize));
  config_.add_capability(kCapVendor, virtio_cap(kCfgNotify, kNotifyOffset, notify_len,
                                                kNotifyMultiplier));
  config_.add_capability(kCapVendor, virtio_cap(kCfgIsr, kIsrOffset, 1));
  config_.add_capability(kCapVendor, virtio_cap(kCfgDevice, kDeviceOffset, 0x1000));
  msix_cap_ = config_.add_capability(
      pci::Msix::kCapId,
      msix_.capability_body(0, kMsixTableOffset, kMsixPbaOffset),
      pci::Msix::capability_writable());
  config_.set_interrupt_pin(1, 0);
  for (auto& q : queues_) q.config.size = device_->max_queue_size();
}

VirtioPci::~VirtioPci() { stop_worker(); }

std::shared_ptr<BusDevice> VirtioPci::bar_handler(int index) {
  if (index != 0) return nullptr;
  return std::make_shared<BarHandler>(weak_from_this());
}

void VirtioPci::config_write(uint16_t offset, size_t len, uint32_t value) {
  config_.write(offset, len, value);
  // The MSI-X message control word sits 2 bytes into the capability.
  const uint16_t control = static_cast<uint16_t>(msix_cap_ + 2);
  if (offset <= control + 1 && offset + len > control) {
    uint16_t word;
    std::memcpy(&word, config_.bytes() + control, 2);
    msix_.set_control(word);
  }
}

void VirtioPci::bar_read(uint64_t offset, std::span<uint8_t> data) {
  std::fill(data.begin(), data.end(), 0);
  if (offset >= kMsixTableOffset && offset < kMsixPbaOffset) {
    msix_.table_read(offset - kMsixTableOffset, data);
  } else if (offset >= kMsixPbaOffset) {
    msix_.pba_read(offset - kMsixPbaOffset, data);
  } else if (offset >= kDeviceOffset && offset < kNotifyOffset) {
    device_->read_config(offset - kDeviceOffset, data);
  } else if (offset == kIsrOffset && data.size() == 1) {
    // Reading the ISR acknowledges it and lowers INTx.
    data[0] = isr_.exchange(0);
    if (data[0] && wiring_.intx) wiring_.intx(false);
  } else if (offset < kCommonSize && data.size() <= 4) {
    std::lock_guard lock(mu_);
    uint32_t v = common_read(offset, data.size());
    std::memcpy(data.data(), &v, data.size());
  }
}

void VirtioPci::bar_write(uint64_t offset, std::span<const uint8_t> data) {
  if (offset >= kMsixTableOffset && offset < kMsixPbaOffset) {
    msix_.table_write(offset - kMsixTableOffset, data);
  } else if (offset >= kDeviceOffset && offset < kNotifyOffset) {
    device_->write_config(offset - kDeviceOffset, data);
  } else if (offset >= kNotifyOffset && offset < kMsixTableOffset) {
    // Only reached when KVM's ioeventfd did not take the write.
    size_t q = (offset - kNotifyOffset) / kNotifyMultiplier;
    if (q < queues_.size()) {
      uint64_t one = 1;
      [[maybe_unused]] ssize_t n = ::write(queues_[q].notify.get(), &one, sizeof one);
    }
  } else if (offset < kCommonSize && data.size() <= 4) {
    uint32_t v = 0;
    std::memcpy(&v, data.data(), data.size());
    std::lock_guard lock(mu_);
    common_write(offset, data.size(), v);
  }
}

uint32_t VirtioPci::common_read(uint64_t offset, size_t len) {
  Queue* q = queue_select_ < queues_.size() ? &queues_[queue_select_] : nullptr;
  auto lo = [](uint64_t v) { return static_cast<uint32_t>(v); };
  auto hi = [](uint64_t v) { return static_cast<uint32_t>(v >> 32); };
  switch (offset) {
    case kDeviceFeatureSelect: return device_feature_select_;
    case kDeviceFeature:
      if (device_feature_select_ > 1) return 0;
      return static_cast<uint32_t>(device_->device_features() >> (32 * device_feature_select_));
    case kDriverFeatureSelect: return driver_feature_select_;
    case kDriverFeature:
      if (driver_feature_select_ > 1) return 0;
      return static_cast<uint32_t>(driver_features_ >> (32 * driver_feature_select_));
    case kConfigMsixVector: return config_msix_vector_;
    case kNumQueues: return static_cast<uint32_t>(queues_.size());
    case kDeviceStatus: return status_;
    case kConfigGeneration: return 0;  // device config never changes
    case kQueueSelect: return queue_select_;
    case kQueueSize: return q ? q->config.size : 0;
    case kQueueMsixVector: return q ? q->msix_vector : kNoVector;
    case kQueueEnable: return q && q->enabled ? 1 : 0;
    case kQueueNotifyOff: return q ? queue_select_ : 0;
    case kQueueDesc: return q ? lo(q->config.desc) : 0;
    case kQueueDesc + 4: return q ? hi(q->config.desc) : 0;
    case kQueueDriver: return q ? lo(q->config.avail) : 0;
    case kQueueDriver + 4: return q ? hi(q->config.avail) : 0;
    case kQueueDevice: return q ? lo(q->config.used) : 0;
    case kQueueDevice + 4: return q ? hi(q->config.used) : 0;
    default: (void)len; return 0;
  }
}

void VirtioPci::common_write(uint64_t offset, size_t len, uint32_t value) {
  (void)len;
  Queue* q = queue_select_ < queues_.size() ? &queues_[queue_select_] : nullptr;
  // Queue registers are frozen once the queue is enabled (the spec forbids
  // changing them; we simply ignore it).
  const bool queue_writable = q && !q->enabled && !(status_ & kStatusDriverOk);
  auto set_lo = [](uint64_t& r, uint32_t v) { r = (r & ~0xffffffffull) | v; };
  auto set_hi = [](uint64_t& r, uint32_t v) { r = (r & 0xffffffffull) | (uint64_t{v} << 32); };
  switch (offset) {
    case kDeviceFeatureSelect: device_feature_select_ = value; break;
    case kDriverFeatureSelect: driver_feature_select_ = value; break;
    case kDriverFeature:
      if (driver_feature_select_ <= 1 && !(status_ & kStatusFeaturesOk)) {
        int shift = 32 * static_cast<int>(driver_feature_select_);
        driver_features_ = (driver_features_ & ~(0xffffffffull << shift)) |
                           (uint64_t{value} << shift);
      }
      break;
    case kConfigMsixVector: config_msix_vector_ = static_cast<uint16_t>(value); break;
    case kDeviceStatus: set_status(static_cast<uint8_t>(value)); break;
    case kQueueSelect: queue_select_ = static_cast<uint16_t>(value); break;
    case kQueueSize:
      // Any power of two up to the maximum; Virtqueue::create checks again.
      if (queue_writable && value != 0 && value <= device_->max_queue_size() &&
          (value & (value - 1)) == 0) {
        q->config.size = static_cast<uint16_t>(value);
      }
      break;
    case kQueueMsixVector: if (q) q->msix_vector = static_cast<uint16_t>(value); break;
    case kQueueEnable: if (queue_writable && value == 1) q->enabled = true; break;
    case kQueueDesc: if (queue_writable) set_lo(q->config.desc, value); break;
    case kQueueDesc + 4: if (queue_writable) set_hi(q->config.desc, value); break;
    case kQueueDriver: if (queue_writable) set_lo(q->config.avail, value); break;
    case kQueueDriver + 4: if (queue_writable) set_hi(q->config.avail, value); break;
    case kQueueDevice: if (queue_writable) set_lo(q->config.used, value); break;
    case kQueueDevice + 4: if (queue_writable) set_hi(q->config.used, value); break;
    default: break;
  }
}

void VirtioPci::set_status(uint8_t status) {
  if (status == 0) {
    reset_locked();
    return;
  }
  if ((status & kStatusFeaturesOk) && !(status_ & kStatusFeaturesOk)) {
    // Accept only a subset of what we offered, and only virtio 1.x.
    const uint64_t offered = device_->device_features();
    if ((driver_features_ & ~offered) || !(driver_features_ & kFVersion1)) {
      status &= static_cast<uint8_t>(~kStatusFeaturesOk);
    }
  }
  const bool driver_ok = (status & kStatusDriverOk) && !(status_ & kStatusDriverOk);
  status_ = status;
  if (driver_ok) activate_locked();
}

void VirtioPci::activate_locked() {
  std::vector<ActivatedQueue> active;
  const bool event_idx = driver_features_ & kFRingEventIdx;
  for (size_t i = 0; i < queues_.size(); ++i) {
    Queue& q = queues_[i];
    if (!q.enabled) continue;
    auto vq = Virtqueue::create(mem_, q.config, event_idx);
    if (!vq) {
      spdlog::warn("[virtio{}] queue {}: {}", device_->device_id(), i,
                   vq.error().message());
      status_ |= kStatusNeedsReset;
      return;
    }
    uint16_t vector = q.msix_vector;
    // The irqfd only stands for the interrupt with MSI-X on (and masks
    // mirrored to it, wiring_.mask).
    const int irq_fd = msix_.enabled() && vector != kNoVector && vector < msix_.vectors() &&
                               wiring_.irqfd && wiring_.mask
                           ? wiring_.irqfd(vector)
                           : -1;
    active.push_back({std::move(vq).value(), [this, vector] { interrupt(vector, kIsrQueue); },
                      q.notify.get(), irq_fd});
  }
  if (auto r = device_->activate(mem_, driver_features_, std::move(active)); !r) {
    spdlog::warn("[virtio{}] activate: {}", device_->device_id(), r.error().message());
    status_ |= kStatusNeedsReset;
    return;
  }
  start_worker();
}

void VirtioPci::reset_locked() {
  stop_worker();
  device_->reset();
  for (auto& q : queues_) {
    q.config = QueueConfig{};
    q.config.size = device_->max_queue_size();
    q.msix_vector = kNoVector;
    q.enabled = false;
  }
  status_ = 0;
  driver_features_ = 0;
  device_feature_select_ = driver_feature_select_ = 0;
  config_msix_vector_ = kNoVector;
  queue_select_ = 0;
  isr_ = 0;
}

void VirtioPci::interrupt(uint16_t vector, uint8_t isr_bit) {
  if (msix_.enabled()) {
    if (vector != kNoVector) msix_.trigger(vector);
    return;
  }
  isr_.fetch_or(isr_bit);
  if (wiring_.intx && !(config_.command() & kPciCommandIntxDisable)) {
    wiring_.intx(true);
  }
}

std::string VirtioPci::describe() {
  std::lock_guard lock(mu_);
  char line[256];
  snprintf(line, sizeof line, "virtio%u: status 0x%02x isr 0x%02x config-vector %u ",
           device_->device_id(), status_, isr_.load(), config_msix_vector_);
  std::string s = line + msix_.describe() + "\n";
  auto u16 = [this](uint64_t gpa) -> int {
    auto b = mem_.slice(gpa, 2);
    if (!b) return -1;
    uint16_t v;
    std::memcpy(&v, b->data(), 2);
    return v;
  };
  for (size_t i = 0; i < queues_.size(); ++i) {
    const Queue& q = queues_[i];
    if (!q.enabled) continue;
    const uint64_t size = q.config.size;
    // avail: flags, idx, ring[size], used_event; used: flags, idx,
    // ring[size] of 8 bytes, avail_event.
    snprintf(line, sizeof line,
             "  queue %zu: size %u vector %u avail flags %d idx %d used_event %d;"
             " used flags %d idx %d avail_event %d\n",
             i, q.config.size, q.msix_vector, u16(q.config.avail), u16(q.config.avail + 2),
             u16(q.config.avail + 4 + 2 * size), u16(q.config.used), u16(q.config.used + 2),
             u16(q.config.used + 4 + 8 * size));
    s += line;
  }
  return s;
}

void VirtioPci::start_worker() {
  worker_ = std::thread([this] { worker_loop(); });
}

void VirtioPci::stop_worker() {
  if (!worker_.joinable()) return;
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(stop_event_.get(), &one, sizeof one);
  worker_.join();
  uint64_t drain;
  [[maybe_unused]] ssize_t m = ::read(stop_event_.get(), &drain, sizeof drain);
}

void VirtioPci::worker_loop() {
  UniqueFd ep(epoll_create1(EPOLL_CLOEXEC));
  auto watch = [&ep](int fd, uint64_t tag) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = tag;
    epoll_ctl(ep.get(), EPOLL_CTL_ADD, fd, &ev);
  };
  const uint64_t kStopTag = ~0ull, kEventBase = 1ull << 32;
  watch(stop_event_.get(), kStopTag);
  const bool kernel_queues = device_->kernel_handles_queues();
  if (!kernel_queues) {
    for (size_t i = 0; i < queues_.size(); ++i) watch(queues_[i].notify.get(), i);
  }
  const std::vector<int> event_fds = device_->event_fds();
  std::vector<bool> watching(event_fds.size(), false);
  // Watches a device's own descriptor only while it wants input: a
  // readable tap with no guest buffers would otherwise spin the loop.
  auto update_events = [&] {
    for (size_t i = 0; i < event_fds.size(); ++i) {
      const bool want = device_->event_wanted(i);
      if (want == watching[i]) continue;
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = kEventBase + i;
      epoll_ctl(ep.get(), want ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, event_fds[i], &ev);
      watching[i] = want;
    }
  };
  // Buffers may have been offered before the first notification arrived.
  if (!kernel_queues) {
    for (size_t i = 0; i < queues_.size(); ++i) device_->process_queue(i);
  }
  update_events();
  for (;;) {
    epoll_event events[8];
    int n = epoll_wait(ep.get(), events, 8, -1);
    for (int i = 0; i < n; ++i) {
      uint64_t tag = events[i].data.u64;
      if (tag == kStopTag) return;
      if (tag >= kEventBase) {
        device_->process_event(tag - kEventBase);
        continue;
      }
      uint64_t count;
      [[maybe_unused]] ssize_t r = ::read(queues_[tag].notify.get(), &count, sizeof count);
      device_->process_queue(tag);
    }
    update_events();
  }
}

}  // namespace vmrun::devices::virtio
