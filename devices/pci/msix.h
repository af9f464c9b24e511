// MSI-X for a PCI function: the capability's control bits, the vector table
// and the pending-bit array (PBA), both living in a BAR. Delivering a vector
// respects the function and per-vector masks: a masked vector's interrupt
// is remembered in the PBA and sent when the guest unmasks it.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <vector>

namespace vmrun::devices::pci {

class Msix {
 public:
  static constexpr uint8_t kCapId = 0x11;
  static constexpr size_t kEntrySize = 16;

  // Where a vector's message goes now; called when the guest changes an entry
  // or enables MSI-X, so the owner can update its KVM route.
  using OnRoute = std::function<void(uint16_t vector, uint64_t addr, uint32_t data)>;
  // Sends the vector's message (the owner writes its irqfd).
  using OnFire = std::function<void(uint16_t vector)>;
  // A vector stopped (true) or started (false) being deliverable: by its
  // mask, the function mask or the enable bit. For an owner whose irqfd is
  // also signalled by the kernel (vhost), which must then hold those
  // signals itself. Called under the table's lock, before pending vectors
  // fire; vectors start as reported deliverable (an irqfd starts attached).
  using OnMask = std::function<void(uint16_t vector, bool masked)>;

  Msix(uint16_t vectors, OnRoute on_route, OnFire on_fire, OnMask on_mask = nullptr);

  uint16_t vectors() const { return static_cast<uint16_t>(table_.size()); }
  size_t table_bytes() const { return table_.size() * kEntrySize; }
  size_t pba_bytes() const { return ((table_.size() + 63) / 64) * 8; }

  // The 10 capability body bytes (after id/next) for a table and PBA at
  // these offsets of BAR `bir`, and the mask of guest-writable body bytes.
  std::vector<uint8_t> capability_body(uint8_t bir, uint32_t table_offset,
                                       uint32_t pba_offset) const;
  static std::vector<uint8_t> capability_writable();

  // The guest wrote the capability's message control word.
  void set_control(uint16_t control);
  bool enabled() const;

  void table_read(uint64_t offset, std::span<uint8_t> data);
  void table_write(uint64_t offset, std::span<const uint8_t> data);
  void pba_read(uint64_t offset, std::span<uint8_t> data);

  // The device raises `vector`: sent now, or left pending while masked.
  void trigger(uint16_t vector);

  // One line for a state dump: enable, function mask, and each vector's
  // mask and pending bits.
  std::string describe();

 private:
  struct Entry {
    uint32_t addr_lo = 0, addr_hi = 0, data = 0;
    uint32_t control = 1;  // masked until the guest sets it up
  };
  bool deliverable(const Entry& e) const;
  void route(uint16_t vector);
  void fire_pending_locked(std::vector<uint16_t>* to_fire);
  // Tells on_mask_ of vectors whose deliverability changed.
  void report_masks_locked();

  std::mutex mu_;
  std::vector<Entry> table_;
  std::vector<bool> pending_;
  std::vector<bool> reported_masked_;
  bool enabled_ = false;
  bool function_masked_ = false;
  OnRoute on_route_;
  OnFire on_fire_;
  OnMask on_mask_;
};

}  // namespace vmrun::devices::pci
