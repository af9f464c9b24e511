// The guest's view of a passed-through device's MSI and MSI-X capabilities.
// vmrun owns these: the guest programs addresses and data for its own
// interrupt controller, which mean nothing to the host, so they are kept
// here and turned into KVM routes (Interrupts) instead of reaching the
// device. Offsets are absolute in config space; `raw` is the device's own
// config space as read at start.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "devices/vfio/interrupts.h"

namespace vmrun::devices::vfio {

constexpr uint8_t kCapMsi = 0x05;
constexpr uint8_t kCapMsix = 0x11;

class MsiCap {
 public:
  MsiCap(std::span<const uint8_t, 256> raw, uint8_t at);
  bool contains(uint16_t offset) const { return offset >= at_ && offset < at_ + length_; }
  uint32_t read(uint16_t offset, size_t len) const;
  void write(uint16_t offset, size_t len, uint32_t value);
  // The enabled vectors, or none while MSI is off.
  std::vector<MsiVector> vectors() const;

 private:
  uint32_t field(size_t rel, size_t len) const;
  uint8_t at_;
  size_t length_;
  bool is64_, per_vector_mask_;
  uint8_t max_log2_;                // Multiple Message Capable
  std::array<uint8_t, 24> bytes_{};  // the capability, from its id byte
  std::array<uint8_t, 24> writable_{};
};

class MsixCap {
 public:
  static constexpr size_t kEntrySize = 16;

  MsixCap(std::span<const uint8_t, 256> raw, uint8_t at);
  bool contains(uint16_t offset) const { return offset >= at_ && offset < at_ + 12; }
  uint32_t read(uint16_t offset, size_t len) const;
  void write(uint16_t offset, size_t len, uint32_t value);

  size_t entries() const { return table_.size(); }
  int table_bar() const { return table_bar_; }
  uint64_t table_offset() const { return table_offset_; }
  uint64_t table_bytes() const { return table_.size() * kEntrySize; }
  int pba_bar() const { return pba_bar_; }
  uint64_t pba_offset() const { return pba_offset_; }
  uint64_t pba_bytes() const { return (table_.size() + 63) / 64 * 8; }

  // Accesses inside the table (offsets within it): dword or qword.
  void table_read(uint64_t offset, std::span<uint8_t> data) const;
  void table_write(uint64_t offset, std::span<const uint8_t> data);
  std::vector<MsiVector> vectors() const;

 private:
  uint8_t at_;
  uint16_t control_;  // the device's, with enable and function mask ours
  int table_bar_, pba_bar_;
  uint64_t table_offset_, pba_offset_;
  std::vector<std::array<uint32_t, 4>> table_;  // addr lo, addr hi, data, control
};

}  // namespace vmrun::devices::vfio
