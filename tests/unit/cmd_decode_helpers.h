// Helpers shared by the guest init's command line decoder tests
// (cmd_decode_test.cc, cmd_decode_share_test.cc, cmd_decode_net_test.cc): a
// reference encoder written from docs/guest-protocol.md, and vmrun.cmd
// decoded into strings. Header-only.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "cmd_decode.h"

// Reference encoder, written from the protocol text: safe bytes stand for
// themselves, every other byte becomes %XX (upper-case), args joined by ','.
inline std::string Encode(const std::vector<std::string>& args) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (size_t i = 0; i < args.size(); ++i) {
    if (i > 0) out += ',';
    for (unsigned char c : args[i]) {
      bool safe = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                  (c >= '0' && c <= '9') ||
                  std::string("._/:@+=-").find(static_cast<char>(c)) != std::string::npos;
      if (safe) {
        out += static_cast<char>(c);
      } else {
        out += '%';
        out += kHex[c >> 4];
        out += kHex[c & 15];
      }
    }
  }
  return out;
}

// The struct is large and self-referential; keep it on the heap.
struct Decoded {
  vmrun_cmd_result result;
  std::vector<std::string> args;
};

inline Decoded Decode(const std::string& cmdline) {
  auto cmd = std::make_unique<vmrun_cmd>();
  Decoded d;
  d.result = vmrun_cmd_decode(cmdline.c_str(), cmd.get());
  for (int i = 0; i < cmd->argc; ++i) d.args.emplace_back(cmd->argv[i]);
  EXPECT_EQ(cmd->argv[cmd->argc], nullptr);
  if (d.result != VMRUN_CMD_FOUND) {
    EXPECT_EQ(cmd->argc, 0);
  }
  return d;
}

using Args = std::vector<std::string>;
