#include "devices/vfio/pci_address.h"

#include <cstdio>

namespace vmrun::devices::vfio {
namespace {

// Parses exactly `digits` hex digits at text[*pos] (fewer are not allowed:
// sysfs names are fixed width, and a short field is more likely a typo).
bool hex_field(const std::string& text, size_t* pos, size_t digits, uint32_t* out) {
  if (*pos + digits > text.size()) return false;
  uint32_t v = 0;
  for (size_t i = 0; i < digits; ++i) {
    char c = text[*pos + i];
    uint32_t d;
    if (c >= '0' && c <= '9') d = static_cast<uint32_t>(c - '0');
    else if (c >= 'a' && c <= 'f') d = static_cast<uint32_t>(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') d = static_cast<uint32_t>(c - 'A' + 10);
    else return false;
    v = v * 16 + d;
  }
  *pos += digits;
  *out = v;
  return true;
}

bool expect(const std::string& text, size_t* pos, char c) {
  if (*pos >= text.size() || text[*pos] != c) return false;
  ++*pos;
  return true;
}

}  // namespace

Result<PciAddress> PciAddress::parse(const std::string& text) {
  auto bad = [&text] {
    return Error("'" + text +
                 "' is not a PCI address (expected DOMAIN:BUS:DEVICE.FUNCTION "
                 "as lspci -D prints it, e.g. 0000:01:00.0)");
  };
  // Domain present when there are two colons.
  size_t colons = 0;
  for (char c : text) colons += c == ':';
  if (colons != 1 && colons != 2) return bad();
  size_t pos = 0;
  uint32_t domain = 0, bus = 0, device = 0, function = 0;
  if (colons == 2 && !(hex_field(text, &pos, 4, &domain) && expect(text, &pos, ':'))) {
    return bad();
  }
  if (!(hex_field(text, &pos, 2, &bus) && expect(text, &pos, ':') &&
        hex_field(text, &pos, 2, &device) && expect(text, &pos, '.') &&
        hex_field(text, &pos, 1, &function)) ||
      pos != text.size()) {
    return bad();
  }
  if (device > 31 || function > 7) return bad();
  return PciAddress{domain, static_cast<uint8_t>(bus), static_cast<uint8_t>(device),
                    static_cast<uint8_t>(function)};
}

std::string PciAddress::to_string() const {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04x:%02x:%02x.%x", domain & 0xffff, bus, device,
                function);
  return buf;
}

}  // namespace vmrun::devices::vfio
