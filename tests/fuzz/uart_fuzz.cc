// libFuzzer: a hostile guest driving the UART. Each 2-byte step is one
// register access (offset, read or write, value), interleaved with host
// input; the device must stay within its buffers and never crash.
#include <cstddef>
#include <cstdint>

#include "devices/uart16550.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  size_t out_bytes = 0;
  vmrun::devices::Uart16550 uart([](bool) {},
                                 [&](std::span<const uint8_t> b) { out_bytes += b.size(); });
  for (size_t i = 0; i + 1 < size; i += 2) {
    uint8_t op = data[i], value = data[i + 1];
    uint64_t offset = op & 0x7;
    if (op & 0x80) {
      uart.input({&value, 1});
    } else if (op & 0x40) {
      uint8_t b;
      uart.read(offset, {&b, 1});
    } else {
      uart.write(offset, {&value, 1});
    }
  }
  return 0;
}
