// Where the guest's console bytes go: vmrun's stdout, a line at a time
// (the UART hands over one byte per guest exit; a write() per byte doubled
// its cost), while a watcher remembers a "Kernel panic - not syncing: ..."
// line so a panic can be reported as such when the guest then resets.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "vmm/unique_fd.h"

namespace vmrun {

class PanicWatcher {
 public:
  void feed(std::span<const uint8_t> bytes);
  std::optional<std::string> panic_message() const { return panic_; }

 private:
  static constexpr size_t kMaxLine = 512;
  static constexpr size_t kMaxMessage = 256;
  std::string line_;
  std::optional<std::string> panic_;
};

class ConsoleOutput {
 public:
  explicit ConsoleOutput(int fd);
  // From the vCPU thread: a complete line (or 4 KiB) is written at once, as
  // before (a stalled reader holds the guest back like a serial line would);
  // a partial line (a prompt, typed characters echoed) is queued and
  // ready_fd() becomes readable, for the main loop's flush_partial().
  void write(std::span<const uint8_t> bytes);
  int ready_fd() const { return ready_.get(); }
  // Main loop: what is queued, if stdout takes it now without blocking
  // (else left for the next call; the main loop must never block on it).
  void flush_partial();
  // Everything queued, blocking (the end of the run).
  void flush();
  // Every byte also goes to `fd` (--log), whatever happens to the main
  // output (a closed pipe does not stop the log).
  void set_log(int fd) { log_fd_ = fd; }
  // Bytes for the log only (the guest's log port), not the console.
  void write_log(std::span<const uint8_t> bytes);
  std::optional<std::string> panic_message() const;

 private:
  // All of `bytes` to the log, if any; under mu_.
  void log_locked(std::span<const uint8_t> bytes);
  // Writes `bytes` to fd_; under write_mu_. Returns the bytes written.
  size_t write_out(std::string_view bytes, bool blocking);

  static constexpr size_t kLineMax = 4096;  // = PIPE_BUF: written whole
  int fd_;
  int log_fd_ = -1;
  UniqueFd ready_;  // eventfd
  // write_mu_ is held from taking bytes off the queue until they are
  // written, so they reach fd_ in order; mu_ guards the queue.
  std::mutex write_mu_;
  mutable std::mutex mu_;
  std::string queued_;
  std::atomic<bool> broken_ = false;  // the reader went away; keep the guest running
  PanicWatcher watcher_;
};

}  // namespace vmrun
