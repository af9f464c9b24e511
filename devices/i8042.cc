#include "devices/i8042.h"

#include <algorithm>

namespace vmrun::devices {
namespace {
constexpr uint8_t kCmdPulseReset = 0xfe;
constexpr uint64_t kStatusOffset = I8042::kCommandPort - I8042::kDataPort;
}  // namespace

void I8042::read(uint64_t offset, std::span<uint8_t> data) {
  std::fill(data.begin(), data.end(), 0xff);
  // Status: output buffer empty, input buffer empty.
  if (offset == kStatusOffset && !data.empty()) data[0] = 0x00;
  if (offset == 0 && !data.empty()) data[0] = 0x00;
}

void I8042::write(uint64_t offset, std::span<const uint8_t> data) {
  if (offset == kStatusOffset && !data.empty() && data[0] == kCmdPulseReset) {
    on_reset_();
  }
}

}  // namespace vmrun::devices
