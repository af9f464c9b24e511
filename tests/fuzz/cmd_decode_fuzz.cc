// libFuzzer: arbitrary text as the guest's /proc/cmdline for init's decoder,
// and the generic setting lookup with a small output buffer.
#include <cstddef>
#include <cstdint>
#include <string>

#include "cmd_decode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string cmdline(reinterpret_cast<const char*>(data), size);  // adds NUL
  static vmrun_cmd cmd;
  if (vmrun_cmd_decode(cmdline.c_str(), &cmd) == VMRUN_CMD_FOUND) {
    for (int i = 0; i < cmd.argc; ++i) (void)std::string(cmd.argv[i]);
  }
  char value[16];
  (void)cmdline_get(cmdline.c_str(), "vmrun.cmd", value, sizeof value);
  return 0;
}
