// The interactive console (`-it`): the user's terminal in raw mode so every
// key, Ctrl-C included, reaches the guest's serial console, and QEMU's
// escape convention (Ctrl-A x) to quit. The terminal's modes are put back
// however vmrun ends: normally, on a second SIGTERM/SIGINT/SIGHUP (which
// kills at once), or on a crash.
#pragma once

#include <termios.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "vmm/result.h"

namespace vmrun {

class RawTerminal {
 public:
  // Puts the terminal on `fd` in raw mode. Fails if `fd` is not a terminal.
  static Result<RawTerminal> enter(int fd);
  RawTerminal(RawTerminal&& other) noexcept;
  RawTerminal& operator=(RawTerminal&&) = delete;
  ~RawTerminal();

 private:
  RawTerminal(int fd, const termios& saved) : fd_(fd), saved_(saved) {}
  int fd_;
  termios saved_;
};

// Splits console input into what goes to the guest and the escape commands
// for vmrun. Ctrl-A x quits; Ctrl-A Ctrl-A sends one Ctrl-A; Ctrl-A h prints
// the help; Ctrl-A then anything else sends both bytes. A Ctrl-A at the end
// of one read waits for the next.
class EscapeFilter {
 public:
  static constexpr uint8_t kEscape = 0x01;  // Ctrl-A
  struct Output {
    std::vector<uint8_t> to_guest;
    bool quit = false;
    bool help = false;
  };
  Output feed(std::span<const uint8_t> input);

  // The help text for Ctrl-A h, with \r\n line ends for a raw terminal.
  static std::string help_text();

 private:
  bool pending_escape_ = false;
};

// True when vmrun should be interactive by default: stdin and stdout are
// both terminals (as kvmtool and QEMU's -nographic assume).
bool stdio_is_terminal();

}  // namespace vmrun
