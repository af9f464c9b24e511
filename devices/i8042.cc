#include "devices/i8042.h"

#include <algorithm>

namespace vmrun::devices {
namespace {

constexpr uint64_t kDataOffset = 0;
constexpr uint64_t kStatusOffset = I8042::kCommandPort - I8042::kDataPort;

constexpr uint8_t kStatusOutputFull = 0x01;
constexpr uint8_t kStatusSystemFlag = 0x04;  // set after a passed self-test

constexpr uint8_t kCmdReadCtr = 0x20;
constexpr uint8_t kCmdWriteCtr = 0x60;
constexpr uint8_t kCmdSelfTest = 0xaa;
constexpr uint8_t kCmdKbdTest = 0xab;
constexpr uint8_t kCmdAuxTest = 0xa9;
constexpr uint8_t kCmdWriteAux = 0xd4;
constexpr uint8_t kCmdWriteOutput = 0xd1;
constexpr uint8_t kCmdPulseReset = 0xfe;

constexpr uint8_t kSelfTestPassed = 0x55;
constexpr uint8_t kInterfaceOk = 0x00;
constexpr uint8_t kAuxNoDevice = 0xff;  // "no mouse": Linux then skips AUX
constexpr uint8_t kKeyboardAck = 0xfa;
constexpr size_t kMaxOutput = 16;      // a hostile guest cannot grow it

}  // namespace

void I8042::read(uint64_t offset, std::span<uint8_t> data) {
  std::fill(data.begin(), data.end(), 0xff);
  if (data.empty()) return;
  std::lock_guard lock(mu_);
  if (offset == kStatusOffset) {
    data[0] = kStatusSystemFlag | (output_.empty() ? 0 : kStatusOutputFull);
  } else if (offset == kDataOffset) {
    data[0] = 0;
    if (!output_.empty()) {
      data[0] = output_.front();
      output_.pop_front();
    }
  }
}

void I8042::write(uint64_t offset, std::span<const uint8_t> data) {
  if (data.empty()) return;
  bool reset = false;
  {
    std::lock_guard lock(mu_);
    if (offset == kStatusOffset) {
      reset = data[0] == kCmdPulseReset;
      if (!reset) command(data[0]);
    } else if (offset == kDataOffset) {
      data_write(data[0]);
    }
  }
  // Outside the lock: the callback stops the VM.
  if (reset) on_reset_();
}

void I8042::command(uint8_t cmd) {
  auto reply = [this](uint8_t b) {
    if (output_.size() < kMaxOutput) output_.push_back(b);
  };
  pending_command_ = 0;
  switch (cmd) {
    case kCmdReadCtr: reply(ctr_); break;
    case kCmdSelfTest: reply(kSelfTestPassed); break;
    case kCmdKbdTest: reply(kInterfaceOk); break;
    case kCmdAuxTest: reply(kAuxNoDevice); break;
    case kCmdWriteCtr:
    case kCmdWriteAux:
    case kCmdWriteOutput:
      pending_command_ = cmd;  // its data byte follows on port 0x60
      break;
    default:  // enable/disable ports and the like: nothing to model
      break;
  }
}

void I8042::data_write(uint8_t value) {
  uint8_t cmd = pending_command_;
  pending_command_ = 0;
  if (cmd == kCmdWriteCtr) {
    ctr_ = value;
  } else if (cmd == kCmdWriteAux || cmd == kCmdWriteOutput) {
    // No mouse to talk to; the output port's bits do not matter here.
  } else if (output_.size() < kMaxOutput) {
    output_.push_back(kKeyboardAck);  // a byte for the (absent) keyboard
  }
}

}  // namespace vmrun::devices
