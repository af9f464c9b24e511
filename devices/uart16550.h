// A 16550A UART, enough for Linux's 8250 driver: the console. Bytes the guest
// transmits go to an output function; input() queues bytes for the guest to
// receive. Loopback mode is modelled because the driver's probe checks it.
//
// Input waits "on the line" until the guest enables the receive interrupt,
// i.e. until a tty has the port open: vmrun may read its stdin long before
// the guest boots, and the driver's start-up (FIFO reset, draining RBR)
// would otherwise throw those bytes away. A guest that polls without
// enabling the interrupt sees no input.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <span>

#include "devices/bus.h"
#include "devices/irq_line.h"

namespace vmrun::devices {

class Uart16550 : public BusDevice {
 public:
  using Output = std::function<void(std::span<const uint8_t>)>;
  static constexpr uint64_t kSize = 8;
  static constexpr size_t kInputCapacity = 64 * 1024;
  static constexpr size_t kFifoSize = 16;

  Uart16550(IrqLine irq, Output output)
      : irq_(std::move(irq)), output_(std::move(output)) {}

  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;

  // Queues bytes for the guest; returns how many fit (the rest are the
  // caller's to retry: input is never dropped silently).
  size_t input(std::span<const uint8_t> bytes);
  size_t input_space() const;

 private:
  uint8_t read_reg(uint64_t reg);
  void write_reg(uint64_t reg, uint8_t value);
  bool receiving() const;   // the guest has the receive interrupt enabled
  bool rx_visible() const;  // a byte is waiting that the guest may read
  uint8_t pop_rx();
  uint8_t interrupt_id() const;
  void update_irq();

  mutable std::mutex mu_;
  IrqLine irq_;
  Output output_;
  std::deque<uint8_t> rx_;    // host input
  // Bytes the guest sent itself in loopback mode (the 8250 probe does),
  // kept apart so they never reach the tty as input.
  std::deque<uint8_t> loop_;
  uint8_t ier_ = 0;
  uint8_t lcr_ = 0x03;  // 8N1, as firmware would leave it
  uint8_t mcr_ = 0x08;  // OUT2 set
  uint8_t scr_ = 0;
  uint8_t fcr_ = 0;
  uint16_t divisor_ = 12;  // 9600 baud; the value does not matter to us
  bool thr_interrupt_ = false;  // THR-empty interrupt pending
  bool irq_level_ = false;
};

}  // namespace vmrun::devices
