// A PCI function's address as the host's sysfs and lspci -D spell it:
// DOMAIN:BUS:DEVICE.FUNCTION in hex, e.g. 0000:01:00.0.
#pragma once

#include <cstdint>
#include <string>

#include "vmm/result.h"

namespace vmrun::devices::vfio {

struct PciAddress {
  uint32_t domain = 0;  // 16 bits in practice; sysfs prints four digits
  uint8_t bus = 0;
  uint8_t device = 0;    // 0..31
  uint8_t function = 0;  // 0..7

  // Accepts DDDD:BB:DD.F, and BB:DD.F for domain 0 (as lspci prints it).
  static Result<PciAddress> parse(const std::string& text);
  std::string to_string() const;  // always with the domain
  bool operator==(const PciAddress&) const = default;
};

}  // namespace vmrun::devices::vfio
