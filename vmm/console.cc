#include "vmm/console.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
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

ConsoleOutput::ConsoleOutput(int fd)
    : fd_(fd), ready_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

void ConsoleOutput::write(std::span<const uint8_t> bytes) {
  std::unique_lock lock(mu_);
  watcher_.feed(bytes);
  log_locked(bytes);
  if (broken_) return;
  const bool was_empty = queued_.empty();
  queued_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  const bool line = std::find(bytes.begin(), bytes.end(), '\n') != bytes.end();
  if (line || queued_.size() >= kLineMax || !ready_.valid()) {
    lock.unlock();
    flush();
  } else if (was_empty) {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(ready_.get(), &one, sizeof one);
  }
}

void ConsoleOutput::flush() {
  std::lock_guard order(write_mu_);
  std::string out;
  {
    std::lock_guard lock(mu_);
    out.swap(queued_);
  }
  write_out(out, true);
}

void ConsoleOutput::flush_partial() {
  uint64_t drain;
  [[maybe_unused]] ssize_t n = ::read(ready_.get(), &drain, sizeof drain);
  {
    std::lock_guard lock(mu_);
    if (queued_.empty()) return;
  }
  std::lock_guard order(write_mu_);
  // POLLOUT on a pipe means room for PIPE_BUF bytes, which a write of at
  // most that takes whole without blocking.
  pollfd p{fd_, POLLOUT, 0};
  if (::poll(&p, 1, 0) != 1 || !(p.revents & POLLOUT)) return;
  std::string out;
  {
    std::lock_guard lock(mu_);
    out = queued_.substr(0, kLineMax);
    queued_.erase(0, out.size());
  }
  const size_t done = write_out(out, false);
  if (done < out.size()) {
    std::lock_guard lock(mu_);
    queued_.insert(0, out, done);  // the rest next time, still first
  }
}

size_t ConsoleOutput::write_out(std::string_view bytes, bool blocking) {
  size_t done = 0;
  while (!broken_ && done < bytes.size()) {
    ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      if (!blocking) break;
      // A non-blocking stdout that is full: wait for room, as a blocking
      // one would.
      pollfd p{fd_, POLLOUT, 0};
      (void)::poll(&p, 1, -1);
      continue;
    }
    if (n <= 0) {
      broken_ = true;  // EPIPE and friends: drop output, not the job
      break;
    }
    done += static_cast<size_t>(n);
  }
  return done;
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
