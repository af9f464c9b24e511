// "0x1f00"-style formatting for addresses in log lines and errors.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace vmrun {

inline std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace vmrun
