// A PCI function's 256-byte configuration space (type 0 header): the bytes,
// which bits the guest may write, the BARs (fixed addresses assigned by
// vmrun, sized the usual way by writing all-ones), and a capability list.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace vmrun::devices::pci {

constexpr uint16_t kVendorRedHat = 0x1b36;
constexpr uint16_t kVendorVirtio = 0x1af4;

struct BarSpec {
  uint64_t size = 0;   // a power of two >= 4096; 0: unused
  bool is64 = false;   // takes two BAR slots
  bool prefetchable = false;
};

class ConfigSpace {
 public:
  ConfigSpace(uint16_t vendor, uint16_t device, uint32_t class_code,
              uint8_t revision, uint16_t subsys_vendor, uint16_t subsys_id);

  // Dword-aligned accesses of 1, 2 or 4 bytes; others read as all-ones.
  uint32_t read(uint16_t offset, size_t len) const;
  void write(uint16_t offset, size_t len, uint32_t value);

  // Declares BAR `index` and places it at `addr` (memory space).
  void set_bar(int index, BarSpec spec, uint64_t addr);
  std::optional<uint64_t> bar_address(int index) const;
  BarSpec bar_spec(int index) const { return bars_[index]; }

  // Appends a capability (id, then `body` after the id/next bytes) and
  // returns its offset. `writable` marks body bytes the guest may change.
  uint8_t add_capability(uint8_t id, std::span<const uint8_t> body,
                         std::span<const uint8_t> writable = {});

  void set_interrupt_pin(uint8_t pin, uint8_t line);
  uint16_t command() const;
  uint8_t* bytes() { return bytes_.data(); }  // for capability owners
  const uint8_t* bytes() const { return bytes_.data(); }

 private:
  uint32_t bar_read(int index) const;
  void bar_write(int index, uint32_t value);

  std::array<uint8_t, 256> bytes_{};
  std::array<uint8_t, 256> writable_{};  // per-byte write masks
  std::array<BarSpec, 6> bars_{};
  std::array<uint64_t, 6> bar_addr_{};
  std::array<bool, 6> bar_sizing_{};     // last write was all-ones
  uint8_t next_cap_ = 0x40;
  uint8_t* last_cap_next_ = nullptr;
};

}  // namespace vmrun::devices::pci
