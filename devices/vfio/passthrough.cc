#include "devices/vfio/passthrough.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <bit>
#include <cstring>

namespace vmrun::devices::vfio {
namespace {

constexpr uint16_t kCommand = 0x04, kHeaderType = 0x0c, kBar0 = 0x10, kBarEnd = 0x28,
                   kRom = 0x30, kCapPtr = 0x34, kIntLine = 0x3c;
constexpr uint8_t kCapPm = 0x01, kCapPcie = 0x10;
constexpr uint32_t kStatusCapList = 0x10u << 16;  // in the command/status dword
constexpr uint64_t kPage = 4096;

uint32_t get32(const std::array<uint8_t, 256>& b, size_t at) {
  uint32_t v;
  std::memcpy(&v, &b[at], 4);
  return v;
}

class BarAccess : public BusDevice {
 public:
  BarAccess(std::shared_ptr<Passthrough> fn, int index) : fn_(std::move(fn)), index_(index) {}
  void read(uint64_t offset, std::span<uint8_t> data) override {
    fn_->bar_read(index_, offset, data);
  }
  void write(uint64_t offset, std::span<const uint8_t> data) override {
    fn_->bar_write(index_, offset, data);
  }

 private:
  std::shared_ptr<Passthrough> fn_;
  int index_;
};

// Removes [lo, hi) from a list of (offset, size) areas.
void cut(std::vector<std::pair<uint64_t, uint64_t>>& areas, uint64_t lo, uint64_t hi) {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  for (auto [off, size] : areas) {
    uint64_t end = off + size;
    if (hi <= off || lo >= end) {
      out.emplace_back(off, size);
      continue;
    }
    if (off < lo) out.emplace_back(off, lo - off);
    if (hi < end) out.emplace_back(hi, end - hi);
  }
  areas = std::move(out);
}

}  // namespace

Result<std::shared_ptr<Passthrough>> Passthrough::create(std::unique_ptr<DeviceIo> device,
                                                         IrqSink& irqs) {
  std::array<uint8_t, 256> raw;
  if (auto r = device->read(kConfigRegion, 0, raw); !r) {
    return r.error().context(device->name() + ": reading config space");
  }
  if (raw[0] == 0xff && raw[1] == 0xff) {
    return Error(device->name() + ": config space reads as all-ones (device gone?)");
  }
  std::shared_ptr<Passthrough> fn(new Passthrough(std::move(device), irqs, raw));
  VMRUN_TRY(fn->setup_bars());
  fn->setup_capabilities();
  return fn;
}

Passthrough::Passthrough(std::unique_ptr<DeviceIo> device, IrqSink& irqs,
                         const std::array<uint8_t, 256>& raw)
    : device_(std::move(device)),
      raw_(raw),
      config_(static_cast<uint16_t>(get32(raw, 0)), static_cast<uint16_t>(get32(raw, 0) >> 16),
              get32(raw, 8) >> 8, raw[8], static_cast<uint16_t>(get32(raw, 0x2c)),
              static_cast<uint16_t>(get32(raw, 0x2c) >> 16)),
      irqs_(*device_, irqs) {}

Result<void> Passthrough::setup_bars() {
  for (int i = 0; i < 6; ++i) {
    const uint32_t reg = get32(raw_, kBar0 + 4 * static_cast<size_t>(i));
    Region region = VMRUN_TRY(device_->region(kBar0Region + static_cast<uint32_t>(i)));
    if (region.size == 0) continue;
    if (reg & 1) {
      spdlog::warn("{}: BAR {} is an I/O port BAR; vmrun passes through memory BARs only",
                   device_->name(), i);
      continue;
    }
    const bool is64 = ((reg >> 1) & 3) == 2;
    if (is64 && i == 5) break;  // malformed: no slot for the upper half
    // The bus wants whole pages; a smaller BAR gets a page, its tail unclaimed.
    bars_[i] = {std::max<uint64_t>(std::bit_ceil(region.size), kPage), is64, (reg & 8) != 0};
    regions_[i] = region;
    if (is64) ++i;
  }
  return ok();
}

void Passthrough::setup_capabilities() {
  const bool has_list = get32(raw_, kCommand) & kStatusCapList;
  uint8_t at = has_list ? raw_[kCapPtr] & 0xfc : 0;
  std::vector<uint8_t> kept;
  // A hostile or broken device could loop its list: 48 is the most
  // capabilities that fit in 192 bytes.
  for (int hops = 0; at >= 0x40 && hops < 48; ++hops) {
    const uint8_t id = raw_[at];
    if (id == kCapMsi && !msi_) {
      msi_.emplace(raw_, at);
      kept.push_back(at);
    } else if (id == kCapMsix && !msix_ && at + 12u <= raw_.size()) {
      msix_.emplace(raw_, at);
      kept.push_back(at);
    } else if (id == kCapPm || id == kCapPcie) {
      kept.push_back(at);
    }
    at = raw_[at + 1] & 0xfc;
  }
  first_cap_ = kept.empty() ? 0 : kept[0];
  for (size_t i = 0; i < kept.size(); ++i) {
    cap_next_.emplace_back(kept[i], i + 1 < kept.size() ? kept[i + 1] : 0);
  }
}

Result<void> Passthrough::attach_intx(uint32_t gsi) {
  const uint8_t pin = raw_[kIntLine + 1];
  if (pin == 0) return ok();
  config_.set_interrupt_pin(pin, static_cast<uint8_t>(gsi));
  std::lock_guard lock(mu_);
  return irqs_.attach_intx(gsi);
}

uint32_t Passthrough::read_dword(uint16_t at) {
  uint32_t v = 0xffffffff;
  if (at >= kBar0 && at < kBarEnd) return config_.read(at, 4);
  if (at == kRom || at == kCapPtr + 4) return 0;
  if (at == kCapPtr) return first_cap_;
  if (msi_ && msi_->contains(at)) {
    v = msi_->read(at, 4);
  } else if (msix_ && msix_->contains(at)) {
    v = msix_->read(at, 4);
  } else {
    std::array<uint8_t, 4> b;
    if (device_->read(kConfigRegion, at, b)) std::memcpy(&v, b.data(), 4);
  }
  if (at == kCommand) v = first_cap_ ? v | kStatusCapList : v & ~kStatusCapList;
  if (at == kHeaderType) v &= ~(0x80u << 16);  // one function: no multifunction bit
  if (at == kIntLine) v = (v & ~0xffu) | (config_.read(kIntLine, 1) & 0xff);
  for (auto [cap, next] : cap_next_) {
    if (cap == at) v = (v & ~0xff00u) | static_cast<uint32_t>(next) << 8;
  }
  return v;
}

uint32_t Passthrough::config_read(uint16_t offset, size_t len) {
  if ((len != 1 && len != 2 && len != 4) || offset % len != 0 || offset + len > 256) {
    return 0xffffffff;
  }
  std::lock_guard lock(mu_);
  uint32_t v = read_dword(offset & ~3) >> ((offset & 3) * 8);
  return len == 4 ? v : v & ((1u << (len * 8)) - 1);
}

void Passthrough::config_write(uint16_t offset, size_t len, uint32_t value) {
  if ((len != 1 && len != 2 && len != 4) || offset % len != 0 || offset + len > 256) return;
  if (offset >= kBar0 && offset < kBarEnd) return config_.write(offset, len, value);
  if (offset >= kRom && offset < kIntLine) return;  // ROM, capability pointer
  if (offset == kIntLine) return config_.write(offset, 1, value & 0xff);
  if (offset > kIntLine && offset < 0x40) return;  // pin, grant, latency: read-only
  std::lock_guard lock(mu_);
  if (msi_ && msi_->contains(offset)) {
    msi_->write(offset, len, value);
    return update_msi(kMsiIrq);
  }
  if (msix_ && msix_->contains(offset)) {
    msix_->write(offset, len, value);
    return update_msi(kMsixIrq);
  }
  for (auto [cap, next] : cap_next_) {
    if (offset <= cap + 1 && offset + len > cap) return;  // id and next are ours
  }
  uint8_t b[4];
  std::memcpy(b, &value, 4);
  if (auto r = device_->write(kConfigRegion, offset, std::span(b, len)); !r) {
    spdlog::debug("{}", r.error().message());
  }
}

void Passthrough::update_msi(uint32_t index) {
  auto vectors = index == kMsiIrq ? msi_->vectors() : msix_->vectors();
  spdlog::debug("{}: {} {} vector(s){}", device_->name(), index == kMsiIrq ? "MSI" : "MSI-X",
                vectors.size(),
                vectors.empty() ? "" : fmt::format(", first {:#x}/{:#x}{}", vectors[0].addr,
                                                   vectors[0].data,
                                                   vectors[0].masked ? " masked" : ""));
  if (auto r = irqs_.set_msi(index, vectors); !r) {
    spdlog::warn("{}: {}", device_->name(), r.error().message());
  }
}

std::shared_ptr<BusDevice> Passthrough::bar_handler(int index) {
  if (index < 0 || index >= 6 || bars_[index].size == 0) return nullptr;
  return std::make_shared<BarAccess>(shared_from_this(), index);
}

void Passthrough::bar_read(int index, uint64_t offset, std::span<uint8_t> data) {
  std::fill(data.begin(), data.end(), 0xff);
  if (msix_ && index == msix_->table_bar() && offset >= msix_->table_offset() &&
      offset - msix_->table_offset() < msix_->table_bytes()) {
    std::lock_guard lock(mu_);
    return msix_->table_read(offset - msix_->table_offset(), data);
  }
  if (msix_ && index == msix_->pba_bar() && offset >= msix_->pba_offset() &&
      offset - msix_->pba_offset() < msix_->pba_bytes()) {
    // Nothing is ever pending in vmrun's view: a masked vector's signal
    // waits in its eventfd and is delivered on unmask.
    std::fill(data.begin(), data.end(), 0);
    return;
  }
  if (offset + data.size() > regions_[index].size || !regions_[index].readable) return;
  if (auto r = device_->read(kBar0Region + static_cast<uint32_t>(index), offset, data); !r) {
    std::fill(data.begin(), data.end(), 0xff);
  }
}

void Passthrough::bar_write(int index, uint64_t offset, std::span<const uint8_t> data) {
  if (msix_ && index == msix_->table_bar() && offset >= msix_->table_offset() &&
      offset - msix_->table_offset() < msix_->table_bytes()) {
    std::lock_guard lock(mu_);
    msix_->table_write(offset - msix_->table_offset(), data);
    return update_msi(kMsixIrq);
  }
  if (msix_ && index == msix_->pba_bar() && offset >= msix_->pba_offset() &&
      offset - msix_->pba_offset() < msix_->pba_bytes()) {
    return;  // read-only
  }
  if (offset + data.size() > regions_[index].size || !regions_[index].writable) return;
  if (auto r = device_->write(kBar0Region + static_cast<uint32_t>(index), offset, data); !r) {
    spdlog::debug("{}", r.error().message());
  }
}

Result<std::vector<Passthrough::DirectMapping>> Passthrough::map_bars() {
  std::vector<DirectMapping> out;
  for (int i = 0; i < 6; ++i) {
    const Region& region = regions_[i];
    auto gpa = config_.bar_address(i);
    if (!gpa || !region.mappable) continue;
    auto areas = region.mmap_areas;
    if (areas.empty()) areas.emplace_back(0, region.size);
    // The MSI-X table and PBA must trap; KVM maps whole pages only.
    auto trap = [&areas](uint64_t off, uint64_t len) {
      cut(areas, off & ~(kPage - 1), (off + len + kPage - 1) & ~(kPage - 1));
    };
    if (msix_ && msix_->table_bar() == i) trap(msix_->table_offset(), msix_->table_bytes());
    if (msix_ && msix_->pba_bar() == i) trap(msix_->pba_offset(), msix_->pba_bytes());
    for (auto [off, size] : areas) {
      uint64_t start = (off + kPage - 1) & ~(kPage - 1);
      uint64_t end = std::min(off + size, region.size) & ~(kPage - 1);
      if (end <= start) continue;  // what is left traps
      uint8_t* host = VMRUN_TRY(
          device_->map(kBar0Region + static_cast<uint32_t>(i), start, end - start));
      out.push_back({*gpa + start, end - start, host});
    }
  }
  return out;
}

}  // namespace vmrun::devices::vfio
