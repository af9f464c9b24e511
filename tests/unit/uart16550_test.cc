// The 16550A console UART as Linux's 8250 driver sees it: transmit, receive,
// interrupts (with a recording IrqLine), divisor latch, loopback, scratch.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "devices/uart16550.h"

namespace vmrun::devices {
namespace {

// Register offsets.
constexpr uint64_t kRbrThr = 0, kIer = 1, kIirFcr = 2, kLcr = 3, kMcr = 4,
                   kLsr = 5, kMsr = 6, kScr = 7;

class UartTest : public ::testing::Test {
 protected:
  UartTest()
      : uart_([this](bool level) { irq_levels_.push_back(level); },
              [this](std::span<const uint8_t> bytes) {
                output_.append(bytes.begin(), bytes.end());
              }) {}

  uint8_t in(uint64_t reg) {
    uint8_t b = 0;
    uart_.read(reg, std::span(&b, 1));
    return b;
  }
  void out(uint64_t reg, uint8_t value) { uart_.write(reg, std::span(&value, 1)); }
  size_t input(const std::string& s) {
    return uart_.input(
        {reinterpret_cast<const uint8_t*>(s.data()), s.size()});
  }
  bool irq_high() const { return !irq_levels_.empty() && irq_levels_.back(); }

  std::vector<bool> irq_levels_;
  std::string output_;
  Uart16550 uart_;
};

TEST_F(UartTest, TransmittedBytesReachOutputInOrder) {
  for (char c : std::string("hello\n")) out(kRbrThr, static_cast<uint8_t>(c));
  EXPECT_EQ(output_, "hello\n");
}

TEST_F(UartTest, LineStatusShowsTransmitterAlwaysEmpty) {
  EXPECT_EQ(in(kLsr), 0x60);  // THRE | TEMT, no data
  out(kRbrThr, 'x');
  EXPECT_EQ(in(kLsr), 0x60);
}

// Received bytes are seen by a guest with the port open (receive interrupt
// enabled, as Linux's tty does); see the "Deferred input" tests below.
TEST_F(UartTest, ReceivedBytesAreReadInOrder) {
  out(kIer, 0x01);
  EXPECT_EQ(input("abc"), 3u);
  EXPECT_EQ(in(kLsr) & 0x01, 0x01);  // data ready
  EXPECT_EQ(in(kRbrThr), 'a');
  EXPECT_EQ(in(kRbrThr), 'b');
  EXPECT_EQ(in(kLsr) & 0x01, 0x01);
  EXPECT_EQ(in(kRbrThr), 'c');
  EXPECT_EQ(in(kLsr), 0x60);  // drained
  EXPECT_EQ(in(kRbrThr), 0);  // reading an empty RBR is harmless
  EXPECT_TRUE(output_.empty());  // received bytes do not echo
}

TEST_F(UartTest, InputReturnsHowManyFit) {
  EXPECT_EQ(uart_.input_space(), Uart16550::kInputCapacity);
  std::string big(Uart16550::kInputCapacity + 100, 'z');
  big[0] = 'A';
  EXPECT_EQ(input(big), Uart16550::kInputCapacity);
  EXPECT_EQ(uart_.input_space(), 0u);
  EXPECT_EQ(input("more"), 0u);
  out(kIer, 0x01);
  EXPECT_EQ(in(kRbrThr), 'A');
  EXPECT_EQ(uart_.input_space(), 1u);
  EXPECT_EQ(input("xy"), 1u);
}

TEST_F(UartTest, NoInterruptPendingByDefault) {
  EXPECT_EQ(in(kIirFcr), 0x01);
  input("a");
  EXPECT_EQ(in(kIirFcr), 0x01);  // IER is 0: nothing is reported
  EXPECT_EQ(in(kIer), 0x00);
  out(kRbrThr, 'b');
  EXPECT_TRUE(irq_levels_.empty());
}

TEST_F(UartTest, IerReadsBackLowNibble) {
  out(kIer, 0xff);
  EXPECT_EQ(in(kIer), 0x0f);
}

TEST_F(UartTest, ReceiveInterruptHasPriorityOverThrEmpty) {
  input("ab");
  out(kIer, 0x03);  // RX available and THR empty
  EXPECT_EQ(in(kIirFcr), 0x04);
  EXPECT_EQ(in(kIirFcr), 0x04);  // still pending: data not read yet
  in(kRbrThr);
  in(kRbrThr);
  EXPECT_EQ(in(kIirFcr), 0x02);  // now THR empty shows...
  EXPECT_EQ(in(kIirFcr), 0x01);  // ...and reading IIR acknowledged it
}

TEST_F(UartTest, ThrWriteRaisesThrEmptyAgain) {
  out(kIer, 0x02);
  EXPECT_EQ(in(kIirFcr), 0x02);
  EXPECT_EQ(in(kIirFcr), 0x01);
  out(kRbrThr, 'x');
  EXPECT_EQ(in(kIirFcr), 0x02);
}

TEST_F(UartTest, FifoEnableShowsInIir) {
  out(kIirFcr, 0x01);
  EXPECT_EQ(in(kIirFcr), 0xc1);
  input("a");
  out(kIer, 0x01);
  EXPECT_EQ(in(kIirFcr), 0xc4);
  out(kIirFcr, 0x00);
  EXPECT_EQ(in(kIirFcr), 0x04);
}

TEST_F(UartTest, FcrClearsReceiveFifo) {
  out(kIer, 0x01);
  input("abc");
  out(kIirFcr, 0x03);  // enable + clear RX
  EXPECT_EQ(in(kLsr) & 0x01, 0);
  EXPECT_EQ(uart_.input_space(), Uart16550::kInputCapacity);
}

TEST_F(UartTest, ReceiveInterruptLineFollowsData) {
  out(kIer, 0x01);
  EXPECT_TRUE(irq_levels_.empty());
  input("hi");
  EXPECT_EQ(irq_levels_, (std::vector<bool>{true}));
  in(kRbrThr);
  EXPECT_EQ(irq_levels_, (std::vector<bool>{true}));  // 'i' still waiting
  in(kRbrThr);
  EXPECT_EQ(irq_levels_, (std::vector<bool>{true, false}));
}

TEST_F(UartTest, EnablingReceiveInterruptWithDataRaisesLine) {
  input("x");
  EXPECT_TRUE(irq_levels_.empty());
  out(kIer, 0x01);
  EXPECT_TRUE(irq_high());
  out(kIer, 0x00);
  EXPECT_FALSE(irq_high());
}

TEST_F(UartTest, ThrEmptyInterruptIsAcknowledgedByReadingIir) {
  out(kIer, 0x02);
  EXPECT_EQ(irq_levels_, (std::vector<bool>{true}));
  EXPECT_EQ(in(kIirFcr), 0x02);
  EXPECT_EQ(irq_levels_, (std::vector<bool>{true, false}));
}

// ISA interrupts are edge-triggered: every transmitted byte must give the
// interrupt controller a new rising edge, even if the line was still high.
TEST_F(UartTest, EachThrWriteGivesANewEdge) {
  out(kIer, 0x02);
  ASSERT_TRUE(irq_high());
  irq_levels_.clear();
  out(kRbrThr, 'a');
  EXPECT_EQ(irq_levels_, (std::vector<bool>{false, true}));
  out(kRbrThr, 'b');
  EXPECT_EQ(irq_levels_, (std::vector<bool>{false, true, false, true}));
  // After an acknowledge the line is low; the next byte raises it once.
  in(kIirFcr);
  irq_levels_.clear();
  out(kRbrThr, 'c');
  EXPECT_EQ(irq_levels_, (std::vector<bool>{true}));
  EXPECT_EQ(output_, "abc");
}

TEST_F(UartTest, DivisorLatch) {
  out(kLcr, 0x83);  // DLAB + 8N1
  out(kRbrThr, 0x01);  // DLL
  out(kIer, 0x02);     // DLM
  EXPECT_EQ(in(kRbrThr), 0x01);
  EXPECT_EQ(in(kIer), 0x02);
  EXPECT_TRUE(output_.empty());  // DLL writes are not data
  EXPECT_TRUE(irq_levels_.empty());  // nor is DLM an IER write
  out(kLcr, 0x03);
  EXPECT_EQ(in(kLcr), 0x03);
  EXPECT_EQ(in(kIer), 0x00);  // the real IER was untouched
  out(kRbrThr, 'k');
  EXPECT_EQ(output_, "k");
  out(kLcr, 0x83);
  EXPECT_EQ(in(kRbrThr), 0x01);  // divisor kept
  EXPECT_EQ(in(kIer), 0x02);
}

TEST_F(UartTest, DivisorLatchDoesNotConsumeReceivedData) {
  out(kIer, 0x01);
  input("q");
  out(kLcr, 0x80);
  in(kRbrThr);
  out(kLcr, 0x03);
  EXPECT_EQ(in(kRbrThr), 'q');
}

TEST_F(UartTest, ModemStatusOutsideLoopback) {
  EXPECT_EQ(in(kMsr) & 0xb0, 0xb0);  // DCD, DSR, CTS
}

// Linux's 8250 probe: MCR = LOOP | OUT2 | RTS must read back MSR 0x90.
TEST_F(UartTest, LoopbackMapsModemControlToStatus) {
  out(kMcr, 0x1a);
  EXPECT_EQ(in(kMsr) & 0xf0, 0x90);
  out(kMcr, 0x1f);
  EXPECT_EQ(in(kMsr) & 0xf0, 0xf0);
  out(kMcr, 0x10);
  EXPECT_EQ(in(kMsr) & 0xf0, 0x00);
  out(kMcr, 0x11);  // DTR -> DSR
  EXPECT_EQ(in(kMsr) & 0xf0, 0x20);
  out(kMcr, 0x14);  // OUT1 -> RI
  EXPECT_EQ(in(kMsr) & 0xf0, 0x40);
}

TEST_F(UartTest, LoopbackDataGoesToReceiverNotOutput) {
  out(kIer, 0x01);
  out(kMcr, 0x10);
  out(kRbrThr, 0x55);
  out(kRbrThr, 0xaa);
  EXPECT_TRUE(output_.empty());
  EXPECT_EQ(in(kLsr) & 0x01, 0x01);
  EXPECT_EQ(in(kRbrThr), 0x55);
  EXPECT_EQ(in(kRbrThr), 0xaa);
  out(kMcr, 0x08);
  out(kRbrThr, 'o');
  EXPECT_EQ(output_, "o");
  EXPECT_EQ(in(kLsr) & 0x01, 0);
}

TEST_F(UartTest, ScratchRegisterKeepsValue) {
  EXPECT_EQ(in(kScr), 0x00);
  out(kScr, 0x5a);
  EXPECT_EQ(in(kScr), 0x5a);
  out(kScr, 0xa5);
  EXPECT_EQ(in(kScr), 0xa5);
}

TEST_F(UartTest, StatusRegistersIgnoreWrites) {
  out(kLsr, 0x00);
  EXPECT_EQ(in(kLsr), 0x60);
  out(kMsr, 0x00);
  EXPECT_EQ(in(kMsr) & 0xb0, 0xb0);
}

TEST_F(UartTest, WideReadGivesOneRegisterAndOnes) {
  out(kIer, 0x01);
  input("z");
  uint8_t buf[4] = {};
  uart_.read(kRbrThr, buf);
  EXPECT_EQ(buf[0], 'z');
  EXPECT_EQ(buf[1], 0xff);
  EXPECT_EQ(buf[3], 0xff);
  EXPECT_EQ(in(kLsr) & 0x01, 0);  // consumed exactly one byte
}

// ---- Deferred input (uart16550.h): host input waits "on the line" until
// the guest enables the receive interrupt, so bytes typed before the tty
// is open survive the driver's start-up (FIFO reset, draining RBR).

TEST_F(UartTest, InputWaitsUntilReceiveInterruptEnabled) {
  EXPECT_EQ(input("early"), 5u);
  EXPECT_EQ(in(kLsr) & 0x01, 0);
  EXPECT_EQ(in(kRbrThr), 0);
  out(kIirFcr, 0x07);  // the driver's FIFO reset
  EXPECT_TRUE(irq_levels_.empty());
  out(kIer, 0x01);  // the tty opens the port
  EXPECT_TRUE(irq_high());
  std::string got;
  while (in(kLsr) & 0x01) got += static_cast<char>(in(kRbrThr));
  EXPECT_EQ(got, "early");
}

// Linux's 8250 probe (size_fifo) writes bytes in loopback mode with the
// receive interrupt off, then resets the FIFO. Those bytes are the driver's
// own, not console input: they must not reach the guest's tty later.
TEST_F(UartTest, LoopbackProbeBytesDoNotLeakIntoConsoleInput) {
  out(kMcr, 0x10);
  for (int i = 0; i < 256; ++i) out(kRbrThr, static_cast<uint8_t>(i));
  while (in(kLsr) & 0x01) in(kRbrThr);  // the probe drains what it sees
  out(kIirFcr, 0x07);                   // and resets the FIFOs
  out(kMcr, 0x0b);                      // normal operation
  out(kIer, 0x01);                      // the tty opens the port
  EXPECT_EQ(in(kLsr) & 0x01, 0) << "stale loopback bytes in the receiver";
  EXPECT_EQ(uart_.input_space(), Uart16550::kInputCapacity);
  input("k");
  EXPECT_EQ(in(kRbrThr), 'k');
}

}  // namespace
}  // namespace vmrun::devices
