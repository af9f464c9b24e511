#include "devices/pci/msix.h"

#include <algorithm>
#include <cstring>

namespace vmrun::devices::pci {
namespace {
constexpr uint16_t kControlEnable = 0x8000;
constexpr uint16_t kControlFunctionMask = 0x4000;
constexpr uint32_t kVectorMasked = 1;
}  // namespace

Msix::Msix(uint16_t vectors, OnRoute on_route, OnFire on_fire, OnMask on_mask)
    : table_(vectors), pending_(vectors), reported_masked_(vectors),
      on_route_(std::move(on_route)), on_fire_(std::move(on_fire)),
      on_mask_(std::move(on_mask)) {}

std::vector<uint8_t> Msix::capability_body(uint8_t bir, uint32_t table_offset,
                                           uint32_t pba_offset) const {
  std::vector<uint8_t> body(10);
  uint16_t control = static_cast<uint16_t>(table_.size() - 1);
  uint32_t table = table_offset | bir, pba = pba_offset | bir;
  std::memcpy(&body[0], &control, 2);
  std::memcpy(&body[2], &table, 4);
  std::memcpy(&body[6], &pba, 4);
  return body;
}

std::vector<uint8_t> Msix::capability_writable() {
  return {0x00, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0};  // enable and function mask
}

bool Msix::enabled() const { return enabled_; }

bool Msix::deliverable(const Entry& e) const {
  return enabled_ && !function_masked_ && !(e.control & kVectorMasked);
}

void Msix::set_control(uint16_t control) {
  std::vector<uint16_t> to_fire;
  {
    std::lock_guard lock(mu_);
    bool was_enabled = enabled_;
    enabled_ = control & kControlEnable;
    function_masked_ = control & kControlFunctionMask;
    if (enabled_ && !was_enabled) {
      for (uint16_t v = 0; v < table_.size(); ++v) route(v);
    }
    report_masks_locked();
    fire_pending_locked(&to_fire);
  }
  for (uint16_t v : to_fire) on_fire_(v);
}

void Msix::table_read(uint64_t offset, std::span<uint8_t> data) {
  std::fill(data.begin(), data.end(), 0xff);
  std::lock_guard lock(mu_);
  // Entries are read as aligned dwords (or qwords of two fields).
  if ((data.size() != 4 && data.size() != 8) || offset % data.size() != 0 ||
      offset + data.size() > table_bytes()) {
    return;
  }
  const Entry& e = table_[offset / kEntrySize];
  uint32_t fields[4] = {e.addr_lo, e.addr_hi, e.data, e.control};
  std::memcpy(data.data(), reinterpret_cast<uint8_t*>(fields) + offset % kEntrySize,
              data.size());
}

void Msix::table_write(uint64_t offset, std::span<const uint8_t> data) {
  std::vector<uint16_t> to_fire;
  {
    std::lock_guard lock(mu_);
    if ((data.size() != 4 && data.size() != 8) || offset % data.size() != 0 ||
        offset + data.size() > table_bytes()) {
      return;
    }
    uint16_t v = static_cast<uint16_t>(offset / kEntrySize);
    Entry& e = table_[v];
    uint32_t fields[4] = {e.addr_lo, e.addr_hi, e.data, e.control};
    std::memcpy(reinterpret_cast<uint8_t*>(fields) + offset % kEntrySize,
                data.data(), data.size());
    e = {fields[0], fields[1], fields[2], fields[3] & kVectorMasked};
    if (enabled_) route(v);
    report_masks_locked();
    fire_pending_locked(&to_fire);
  }
  for (uint16_t v : to_fire) on_fire_(v);
}

void Msix::pba_read(uint64_t offset, std::span<uint8_t> data) {
  std::fill(data.begin(), data.end(), 0);
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < data.size(); ++i) {
    for (size_t bit = 0; bit < 8; ++bit) {
      size_t v = (offset + i) * 8 + bit;
      if (v < pending_.size() && pending_[v]) data[i] |= static_cast<uint8_t>(1u << bit);
    }
  }
}

void Msix::trigger(uint16_t vector) {
  {
    std::lock_guard lock(mu_);
    if (vector >= table_.size()) return;
    if (!deliverable(table_[vector])) {
      pending_[vector] = true;
      return;
    }
  }
  on_fire_(vector);
}

std::string Msix::describe() {
  std::lock_guard lock(mu_);
  std::string s = std::string("msix ") + (enabled_ ? "on" : "off") +
                  (function_masked_ ? " function-masked" : "") + " vectors";
  for (size_t v = 0; v < table_.size(); ++v) {
    s += " " + std::to_string(v) + ((table_[v].control & kVectorMasked) ? "m" : "") +
         (pending_[v] ? "p" : "");
  }
  return s;
}

void Msix::route(uint16_t vector) {
  const Entry& e = table_[vector];
  on_route_(vector, (uint64_t{e.addr_hi} << 32) | e.addr_lo, e.data);
}

// Under the lock, so two vCPUs writing the table cannot report in the
// wrong order (the owner's callback must not call back into this class).
void Msix::report_masks_locked() {
  if (!on_mask_) return;
  for (uint16_t v = 0; v < table_.size(); ++v) {
    const bool masked = !deliverable(table_[v]);
    if (masked != reported_masked_[v]) {
      reported_masked_[v] = masked;
      on_mask_(v, masked);
    }
  }
}

void Msix::fire_pending_locked(std::vector<uint16_t>* to_fire) {
  for (uint16_t v = 0; v < table_.size(); ++v) {
    if (pending_[v] && deliverable(table_[v])) {
      pending_[v] = false;
      to_fire->push_back(v);
    }
  }
}

}  // namespace vmrun::devices::pci
