// vmrun-rootfs exits 2 when the image is at fault and 1 when the host is.
// Error carries only text, so an input error carries a marker byte that
// Error::context() prefixes keep and main() strips before printing.
#pragma once

#include <string>
#include <string_view>

#include "vmm/result.h"

namespace vmrun::rootfs {

inline constexpr char kInputMark = '\x1e';

inline Error input_error(std::string_view message) {
  return Error(std::string(1, kInputMark) + std::string(message));
}

inline bool is_input_error(const Error& e) {
  return e.message().find(kInputMark) != std::string::npos;
}

inline std::string plain_message(const Error& e) {
  std::string m = e.message();
  std::erase(m, kInputMark);
  return m;
}

// A name from the image for an error line: control bytes escaped (an
// entry name may hold a newline; the error must stay one line), long names
// shortened. quote() also puts it in quotes.
inline std::string printable(std::string_view name) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < name.size() && i < 200; ++i) {
    auto c = static_cast<unsigned char>(name[i]);
    if (c < 0x20 || c == 0x7f || c == '\\' || c == '\'') {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (name.size() > 200) out += "...";
  return out;
}

inline std::string quote(std::string_view name) {
  return "'" + printable(name) + "'";
}

}  // namespace vmrun::rootfs
