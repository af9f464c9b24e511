#include "devices/pci/config_space.h"

#include <cstring>

namespace vmrun::devices::pci {
namespace {

constexpr uint16_t kCommand = 0x04, kStatus = 0x06, kBar0 = 0x10,
                   kSubsysVendor = 0x2c, kCapPtr = 0x34, kIntLine = 0x3c,
                   kIntPin = 0x3d;
constexpr uint16_t kStatusCapList = 0x10;
constexpr uint32_t kBarMem64 = 0x4, kBarPrefetch = 0x8;

void put16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }

}  // namespace

ConfigSpace::ConfigSpace(uint16_t vendor, uint16_t device, uint32_t class_code,
                         uint8_t revision, uint16_t subsys_vendor,
                         uint16_t subsys_id) {
  put16(&bytes_[0], vendor);
  put16(&bytes_[2], device);
  bytes_[8] = revision;
  bytes_[9] = static_cast<uint8_t>(class_code);        // prog-if
  bytes_[10] = static_cast<uint8_t>(class_code >> 8);  // subclass
  bytes_[11] = static_cast<uint8_t>(class_code >> 16); // class
  put16(&bytes_[kSubsysVendor], subsys_vendor);
  put16(&bytes_[kSubsysVendor + 2], subsys_id);
  // Command: I/O, memory, bus master, INTx disable may be toggled.
  writable_[kCommand] = 0x07;
  writable_[kCommand + 1] = 0x04;
  writable_[kIntLine] = 0xff;
}

uint32_t ConfigSpace::read(uint16_t offset, size_t len) const {
  if ((len != 1 && len != 2 && len != 4) || offset % len != 0 ||
      offset + len > bytes_.size()) {
    return 0xffffffff;
  }
  uint32_t value = 0;
  if (offset >= kBar0 && offset < kBar0 + 24) {
    uint32_t bar = bar_read((offset - kBar0) / 4);
    value = bar >> ((offset % 4) * 8);
  } else {
    std::memcpy(&value, &bytes_[offset], len);
  }
  if (len < 4) value &= (1u << (len * 8)) - 1;
  return value;
}

void ConfigSpace::write(uint16_t offset, size_t len, uint32_t value) {
  if ((len != 1 && len != 2 && len != 4) || offset % len != 0 ||
      offset + len > bytes_.size()) {
    return;
  }
  if (offset >= kBar0 && offset < kBar0 + 24) {
    if (len == 4) bar_write((offset - kBar0) / 4, value);
    return;  // partial BAR writes are not meaningful; ignore them
  }
  for (size_t i = 0; i < len; ++i) {
    uint8_t mask = writable_[offset + i];
    uint8_t b = static_cast<uint8_t>(value >> (8 * i));
    bytes_[offset + i] = static_cast<uint8_t>((bytes_[offset + i] & ~mask) | (b & mask));
  }
}

void ConfigSpace::set_bar(int index, BarSpec spec, uint64_t addr) {
  bars_[index] = spec;
  bar_addr_[index] = addr;
}

std::optional<uint64_t> ConfigSpace::bar_address(int index) const {
  if (bars_[index].size == 0) return std::nullopt;
  return bar_addr_[index];
}

uint32_t ConfigSpace::bar_read(int index) const {
  // The upper half of a 64-bit BAR lives in the next slot.
  if (index > 0 && bars_[index - 1].is64 && bars_[index].size == 0) {
    const BarSpec& lo = bars_[index - 1];
    if (bar_sizing_[index]) return static_cast<uint32_t>(~(lo.size - 1) >> 32);
    return static_cast<uint32_t>(bar_addr_[index - 1] >> 32);
  }
  const BarSpec& spec = bars_[index];
  if (spec.size == 0) return 0;
  uint32_t flags = (spec.is64 ? kBarMem64 : 0) | (spec.prefetchable ? kBarPrefetch : 0);
  if (bar_sizing_[index]) return static_cast<uint32_t>(~(spec.size - 1)) | flags;
  return static_cast<uint32_t>(bar_addr_[index]) | flags;
}

void ConfigSpace::bar_write(int index, uint32_t value) {
  // BARs are placed by vmrun and stay put: an all-ones write starts the
  // sizing handshake, any other value ends it without moving the BAR.
  bar_sizing_[index] = value == 0xffffffff;
}

uint8_t ConfigSpace::add_capability(uint8_t id, std::span<const uint8_t> body,
                                    std::span<const uint8_t> writable) {
  uint8_t at = next_cap_;
  bytes_[at] = id;
  bytes_[at + 1] = 0;
  std::memcpy(&bytes_[at + 2], body.data(), body.size());
  for (size_t i = 0; i < writable.size() && i < body.size(); ++i) {
    writable_[at + 2 + i] = writable[i];
  }
  if (last_cap_next_ == nullptr) {
    bytes_[kCapPtr] = at;
    put16(&bytes_[kStatus], kStatusCapList);
  } else {
    *last_cap_next_ = at;
  }
  last_cap_next_ = &bytes_[at + 1];
  // Capabilities are dword aligned.
  next_cap_ = static_cast<uint8_t>((at + 2 + body.size() + 3) & ~3u);
  return at;
}

void ConfigSpace::set_interrupt_pin(uint8_t pin, uint8_t line) {
  bytes_[kIntPin] = pin;
  bytes_[kIntLine] = line;
}

uint16_t ConfigSpace::command() const {
  uint16_t v;
  std::memcpy(&v, &bytes_[kCommand], 2);
  return v;
}

}  // namespace vmrun::devices::pci
