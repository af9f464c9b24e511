// The MC146818 CMOS clock at ports 0x70/0x71. Linux reads the wall clock from
// it at boot and its rtc-cmos driver probes it; an absent RTC makes that probe
// stall for seconds. Time registers report the host's UTC time in BCD, 24-hour
// mode; the rest of the 128 bytes is plain RAM. No alarms or periodic IRQs.
#pragma once

#include <array>
#include <cstdint>
#include <ctime>
#include <functional>
#include <mutex>

#include "devices/bus.h"

namespace vmrun::devices {

class CmosRtc : public BusDevice {
 public:
  static constexpr uint16_t kPort = 0x70;
  static constexpr uint64_t kSize = 2;
  using Clock = std::function<std::time_t()>;

  explicit CmosRtc(Clock clock = [] { return std::time(nullptr); })
      : clock_(std::move(clock)) {}

  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;

 private:
  uint8_t read_register(uint8_t index) const;

  std::mutex mu_;
  Clock clock_;
  uint8_t index_ = 0;
  std::array<uint8_t, 128> ram_{};
};

}  // namespace vmrun::devices
