#include "devices/cmos_rtc.h"

#include <algorithm>

namespace vmrun::devices {
namespace {

constexpr uint8_t kSeconds = 0x00, kMinutes = 0x02, kHours = 0x04,
                  kWeekday = 0x06, kDay = 0x07, kMonth = 0x08, kYear = 0x09,
                  kStatusA = 0x0a, kStatusB = 0x0b, kStatusC = 0x0c,
                  kStatusD = 0x0d, kCentury = 0x32;

uint8_t bcd(int v) { return static_cast<uint8_t>(((v / 10) << 4) | (v % 10)); }

}  // namespace

void CmosRtc::read(uint64_t offset, std::span<uint8_t> data) {
  std::fill(data.begin(), data.end(), 0xff);
  if (offset != 1 || data.empty()) return;
  std::lock_guard lock(mu_);
  data[0] = read_register(index_);
}

void CmosRtc::write(uint64_t offset, std::span<const uint8_t> data) {
  if (data.empty()) return;
  std::lock_guard lock(mu_);
  if (offset == 0) {
    index_ = data[0] & 0x7f;  // bit 7 is the NMI mask, not an address bit
    return;
  }
  // The clock itself follows the host; only the non-clock bytes keep writes.
  if (index_ > kStatusD) ram_[index_] = data[0];
}

uint8_t CmosRtc::read_register(uint8_t index) const {
  std::time_t now = clock_();
  std::tm tm{};
  gmtime_r(&now, &tm);
  switch (index) {
    case kSeconds: return bcd(tm.tm_sec);
    case kMinutes: return bcd(tm.tm_min);
    case kHours: return bcd(tm.tm_hour);
    case kWeekday: return bcd(tm.tm_wday + 1);
    case kDay: return bcd(tm.tm_mday);
    case kMonth: return bcd(tm.tm_mon + 1);
    case kYear: return bcd(tm.tm_year % 100);
    case kCentury: return bcd((tm.tm_year + 1900) / 100);
    case kStatusA: return 0x26;  // 32.768 kHz base, no update in progress
    case kStatusB: return 0x02;  // 24-hour mode, BCD, no interrupts
    case kStatusC: return 0x00;  // no interrupt flags
    case kStatusD: return 0x80;  // battery good, contents valid
    default: return ram_[index];
  }
}

}  // namespace vmrun::devices
