// The i8042 keyboard controller, as much as Linux needs to find it quickly
// and to reset the machine through it: the command byte (CTR) can be read and
// written, self-tests pass, and command 0xfe on port 0x64 pulses the CPU
// reset line. No keyboard or mouse is attached (the console is the UART):
// vmrun boots Linux with i8042.noaux and i8042.dumbkbd, so nothing waits for
// one. Without a controller that answers, Linux's probe waits seconds for a
// CTR that never comes.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>

#include "devices/bus.h"

namespace vmrun::devices {

class I8042 : public BusDevice {
 public:
  static constexpr uint16_t kDataPort = 0x60;
  static constexpr uint16_t kCommandPort = 0x64;
  // Registered over 0x60-0x64; 0x61 (the PIT's speaker gate) is handled in
  // KVM before it reaches us, 0x62-0x63 read as all-ones.
  static constexpr uint64_t kSize = 5;

  explicit I8042(std::function<void()> on_reset)
      : on_reset_(std::move(on_reset)) {}

  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;

 private:
  void command(uint8_t cmd);
  void data_write(uint8_t value);

  std::mutex mu_;
  std::function<void()> on_reset_;
  std::deque<uint8_t> output_;   // bytes for the guest to read at 0x60
  uint8_t ctr_ = 0x30;           // keyboard and aux clocks disabled, no IRQs
  uint8_t pending_command_ = 0;  // a command whose data byte comes next
};

}  // namespace vmrun::devices
