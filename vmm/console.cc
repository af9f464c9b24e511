#include "vmm/console.h"

#include <unistd.h>

#include <cerrno>

namespace vmrun {

void PanicWatcher::feed(std::span<const uint8_t> bytes) {
  static constexpr std::string_view kMarker = "Kernel panic - not syncing: ";
  for (uint8_t b : bytes) {
    if (b == '\n' || b == '\r') {
      auto pos = line_.find(kMarker);
      // The first panic is the cause; later ones are usually its echoes.
      if (pos != std::string::npos && !panic_) {
        // Cut: it becomes one line of vmrun's stderr.
        panic_ = line_.substr(pos + kMarker.size(), kMaxMessage);
      }
      line_.clear();
    } else {
      line_ += static_cast<char>(b);
      // Bound the memory, but keep the tail of a long line: a panic may
      // start after a job's unterminated output.
      if (line_.size() > kMaxLine && line_.find(kMarker) == std::string::npos) {
        line_.erase(0, line_.size() - kMarker.size());
      } else if (line_.size() > 4 * kMaxLine) {
        line_.resize(4 * kMaxLine);
      }
    }
  }
}

void ConsoleOutput::log_locked(std::span<const uint8_t> bytes) {
  for (size_t done = 0; log_fd_ >= 0 && done < bytes.size();) {
    ssize_t n = ::write(log_fd_, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // a full disk must not stop the guest
    done += static_cast<size_t>(n);
  }
}

void ConsoleOutput::write(std::span<const uint8_t> bytes) {
  std::lock_guard lock(mu_);
  watcher_.feed(bytes);
  log_locked(bytes);
  size_t done = 0;
  while (!broken_ && done < bytes.size()) {
    ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      broken_ = true;  // EPIPE and friends: drop output, not the job
      break;
    }
    done += static_cast<size_t>(n);
  }
}

void ConsoleOutput::write_log(std::span<const uint8_t> bytes) {
  std::lock_guard lock(mu_);
  log_locked(bytes);
}

std::optional<std::string> ConsoleOutput::panic_message() const {
  std::lock_guard lock(mu_);
  return watcher_.panic_message();
}

}  // namespace vmrun
