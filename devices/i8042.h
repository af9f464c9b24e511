// The part of the i8042 keyboard controller a guest uses to reset the
// machine: command 0xfe on port 0x64 pulses the CPU reset line. The status
// register reads as "empty, ready" so the kernel's reboot path does not spin.
// The keyboard itself is absent: the console is the UART.
#pragma once

#include <functional>

#include "devices/bus.h"

namespace vmrun::devices {

class I8042 : public BusDevice {
 public:
  static constexpr uint16_t kDataPort = 0x60;
  static constexpr uint16_t kCommandPort = 0x64;
  // Registered over 0x60-0x64; offsets 1-3 belong to other hardware on a PC
  // but nothing we emulate, so they read as all-ones here too.
  static constexpr uint64_t kSize = 5;

  explicit I8042(std::function<void()> on_reset)
      : on_reset_(std::move(on_reset)) {}

  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;

 private:
  std::function<void()> on_reset_;
};

}  // namespace vmrun::devices
