#include "devices/uart16550.h"

namespace vmrun::devices {
namespace {

// Register offsets and bits (16550 data sheet names).
constexpr uint64_t kData = 0, kIer = 1, kIir = 2, kLcr = 3, kMcr = 4,
                   kLsr = 5, kMsr = 6, kScr = 7;
constexpr uint8_t kIerRxAvail = 0x01, kIerThrEmpty = 0x02;
constexpr uint8_t kIirNone = 0x01, kIirThrEmpty = 0x02, kIirRxAvail = 0x04,
                  kIirFifoOn = 0xc0;
constexpr uint8_t kLcrDlab = 0x80;
constexpr uint8_t kMcrLoop = 0x10;
constexpr uint8_t kLsrDataReady = 0x01, kLsrThrEmpty = 0x20,
                  kLsrIdle = 0x40;
constexpr uint8_t kFcrEnable = 0x01, kFcrClearRx = 0x02;

// In loopback the modem outputs (MCR bits 0-3) appear on the modem inputs:
// DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD.
uint8_t loopback_msr(uint8_t mcr) {
  uint8_t msr = 0;
  if (mcr & 0x01) msr |= 0x20;
  if (mcr & 0x02) msr |= 0x10;
  if (mcr & 0x04) msr |= 0x40;
  if (mcr & 0x08) msr |= 0x80;
  return msr;
}

}  // namespace

void Uart16550::read(uint64_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mu_);
  // Wider accesses than a byte are not meaningful on a UART: answer the
  // first byte and all-ones for the rest, as unclaimed bus lines would.
  for (size_t i = 0; i < data.size(); ++i) {
    data[i] = i == 0 ? read_reg(offset) : 0xff;
  }
  update_irq();
}

void Uart16550::write(uint64_t offset, std::span<const uint8_t> data) {
  if (data.empty()) return;
  std::lock_guard lock(mu_);
  // A THR write clears the THR-empty interrupt and our transmitter empties at
  // once, raising it again: lower the line first so the guest sees a new edge
  // (ISA interrupts are edge-triggered).
  if (offset == kData && !(lcr_ & kLcrDlab) && irq_level_) {
    irq_level_ = false;
    irq_(false);
  }
  write_reg(offset, data[0]);
  update_irq();
}

size_t Uart16550::input(std::span<const uint8_t> bytes) {
  std::lock_guard lock(mu_);
  size_t n = std::min(bytes.size(), kInputCapacity - rx_.size());
  rx_.insert(rx_.end(), bytes.begin(), bytes.begin() + n);
  update_irq();
  return n;
}

size_t Uart16550::input_space() const {
  std::lock_guard lock(mu_);
  return kInputCapacity - rx_.size();
}

uint8_t Uart16550::read_reg(uint64_t reg) {
  bool dlab = lcr_ & kLcrDlab;
  switch (reg) {
    case kData:
      if (dlab) return static_cast<uint8_t>(divisor_);
      return pop_rx();
    case kIer:
      return dlab ? static_cast<uint8_t>(divisor_ >> 8) : ier_;
    case kIir: {
      uint8_t id = interrupt_id();
      // Reading IIR acknowledges a THR-empty interrupt it reports.
      if (id == kIirThrEmpty) thr_interrupt_ = false;
      return id | ((fcr_ & kFcrEnable) ? kIirFifoOn : 0);
    }
    case kLcr:
      return lcr_;
    case kMcr:
      return mcr_;
    case kLsr:
      return (rx_visible() ? kLsrDataReady : 0) | kLsrThrEmpty | kLsrIdle;
    case kMsr:
      // Not in loopback: carrier, DSR and CTS up, so the tty never waits.
      return (mcr_ & kMcrLoop) ? loopback_msr(mcr_) : 0xb0;
    case kScr:
      return scr_;
    default:
      return 0xff;
  }
}

void Uart16550::write_reg(uint64_t reg, uint8_t value) {
  bool dlab = lcr_ & kLcrDlab;
  switch (reg) {
    case kData:
      if (dlab) {
        divisor_ = static_cast<uint16_t>((divisor_ & 0xff00) | value);
      } else if (mcr_ & kMcrLoop) {
        if (loop_.size() < kFifoSize) loop_.push_back(value);  // else overrun
        thr_interrupt_ = true;
      } else {
        output_(std::span(&value, 1));
        // The byte left at once, so the transmitter is empty again.
        thr_interrupt_ = true;
      }
      break;
    case kIer:
      if (dlab) {
        divisor_ = static_cast<uint16_t>((divisor_ & 0x00ff) | (value << 8));
      } else {
        // Enabling the THR-empty interrupt while the THR is empty raises it.
        if ((value & kIerThrEmpty) && !(ier_ & kIerThrEmpty)) {
          thr_interrupt_ = true;
        }
        ier_ = value & 0x0f;
      }
      break;
    case kIir:  // FCR on write
      fcr_ = value;
      if (value & kFcrClearRx) {
        loop_.clear();
        if (receiving()) rx_.clear();
      }
      break;
    case kLcr:
      lcr_ = value;
      break;
    case kMcr:
      mcr_ = value & 0x1f;
      break;
    case kScr:
      scr_ = value;
      break;
    default:  // LSR and MSR are read-only
      break;
  }
}

bool Uart16550::receiving() const { return (ier_ & kIerRxAvail) != 0; }

bool Uart16550::rx_visible() const {
  return !loop_.empty() || (receiving() && !rx_.empty());
}

uint8_t Uart16550::pop_rx() {
  std::deque<uint8_t>* q = !loop_.empty() ? &loop_ : receiving() ? &rx_ : nullptr;
  if (q == nullptr || q->empty()) return 0;
  uint8_t b = q->front();
  q->pop_front();
  return b;
}

uint8_t Uart16550::interrupt_id() const {
  if (rx_visible()) return kIirRxAvail;
  if ((ier_ & kIerThrEmpty) && thr_interrupt_) return kIirThrEmpty;
  return kIirNone;
}

void Uart16550::update_irq() {
  bool level = interrupt_id() != kIirNone;
  if (level != irq_level_) {
    irq_level_ = level;
    irq_(level);
  }
}

}  // namespace vmrun::devices
