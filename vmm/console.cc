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
        panic_ = line_.substr(pos + kMarker.size());
      }
      line_.clear();
    } else if (line_.size() < kMaxLine) {
      line_ += static_cast<char>(b);
    }
  }
}

void ConsoleOutput::write(std::span<const uint8_t> bytes) {
  std::lock_guard lock(mu_);
  watcher_.feed(bytes);
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

std::optional<std::string> ConsoleOutput::panic_message() const {
  std::lock_guard lock(mu_);
  return watcher_.panic_message();
}

}  // namespace vmrun
