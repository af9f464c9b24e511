#include "vmm/terminal.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

namespace vmrun {
namespace {

// What a signal handler needs to put the terminal back: set while a
// RawTerminal is live. Handlers only read them; tcsetattr is
// async-signal-safe.
volatile sig_atomic_t g_raw_fd = -1;
termios g_saved{};

void restore_and_reraise(int signo) {
  if (g_raw_fd >= 0) tcsetattr(g_raw_fd, TCSANOW, &g_saved);
  signal(signo, SIG_DFL);
  raise(signo);
}

// The signals that end vmrun without its normal exit path: crashes, and
// a second SIGTERM/SIGINT/SIGHUP once the run loop has unblocked them.
constexpr int kEndingSignals[] = {SIGSEGV, SIGBUS,  SIGILL, SIGFPE,
                                  SIGABRT, SIGTERM, SIGINT, SIGHUP};

}  // namespace

Result<RawTerminal> RawTerminal::enter(int fd) {
  termios saved{};
  if (tcgetattr(fd, &saved) != 0) {
    return Error::from_errno("the console is not a terminal (tcgetattr)");
  }
  termios raw = saved;
  // cfmakeraw: no echo, no line editing, no signals from keys (Ctrl-C is
  // the guest's), no CR/NL translation (the guest's tty does its own).
  cfmakeraw(&raw);
  raw.c_cc[VMIN] = 1;
  raw.c_cc[VTIME] = 0;
  g_saved = saved;
  // A handler that sees the fd sees the saved modes.
  std::atomic_signal_fence(std::memory_order_seq_cst);
  g_raw_fd = fd;
  struct sigaction sa {};
  sa.sa_handler = restore_and_reraise;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND;
  for (int sig : kEndingSignals) sigaction(sig, &sa, nullptr);
  // TCSANOW, not TCSAFLUSH: what the user typed ahead is the guest's.
  if (tcsetattr(fd, TCSANOW, &raw) != 0) {
    g_raw_fd = -1;
    return Error::from_errno("putting the terminal in raw mode");
  }
  return RawTerminal(fd, saved);
}

RawTerminal::RawTerminal(RawTerminal&& other) noexcept
    : fd_(other.fd_), saved_(other.saved_) {
  other.fd_ = -1;
}

RawTerminal::~RawTerminal() {
  if (fd_ < 0) return;
  tcsetattr(fd_, TCSANOW, &saved_);  // not DRAIN: a gone terminal must not hang us
  g_raw_fd = -1;
  for (int sig : kEndingSignals) signal(sig, SIG_DFL);
}

EscapeFilter::Output EscapeFilter::feed(std::span<const uint8_t> input) {
  Output out;
  out.to_guest.reserve(input.size());
  for (uint8_t c : input) {
    if (!pending_escape_) {
      if (c == kEscape) {
        pending_escape_ = true;
      } else {
        out.to_guest.push_back(c);
      }
      continue;
    }
    pending_escape_ = false;
    if (c == 'x' || c == 'X') {
      // Nothing typed after the quit reaches the guest.
      out.quit = true;
      return out;
    }
    if (c == 'h' || c == 'H' || c == '?') {
      out.help = true;
      continue;
    }
    out.to_guest.push_back(kEscape);
    if (c != kEscape) out.to_guest.push_back(c);
  }
  return out;
}

std::string EscapeFilter::help_text() {
  return "\r\nvmrun console escapes:\r\n"
         "  Ctrl-A x       quit (stop the guest; vmrun exits 130)\r\n"
         "  Ctrl-A Ctrl-A  send Ctrl-A to the guest\r\n"
         "  Ctrl-A h       this help\r\n";
}

bool stdio_is_terminal() { return isatty(STDIN_FILENO) && isatty(STDOUT_FILENO); }

}  // namespace vmrun
