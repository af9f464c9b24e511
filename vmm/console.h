// Where the guest's console bytes go: straight to an fd (vmrun's stdout),
// while a watcher remembers a "Kernel panic - not syncing: ..." line so a
// panic can be reported as such when the guest then resets.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string>

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
  explicit ConsoleOutput(int fd) : fd_(fd) {}
  void write(std::span<const uint8_t> bytes);
  // Every byte also goes to `fd` (--log), whatever happens to the main
  // output (a closed pipe does not stop the log).
  void set_log(int fd) { log_fd_ = fd; }
  // Bytes for the log only (the guest's log port), not the console.
  void write_log(std::span<const uint8_t> bytes);
  std::optional<std::string> panic_message() const;

 private:
  // All of `bytes` to the log, if any; under mu_.
  void log_locked(std::span<const uint8_t> bytes);

  int fd_;
  int log_fd_ = -1;
  mutable std::mutex mu_;
  bool broken_ = false;  // the reader went away; keep the guest running
  PanicWatcher watcher_;
};

}  // namespace vmrun
