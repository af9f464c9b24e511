// The one place a run's end is decided. Any thread (a vCPU seeing the exit
// port or a triple fault, the main loop seeing a timeout) may request a stop;
// the first request wins and wakes the main loop through an eventfd.
#pragma once

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <optional>

#include "vmm/unique_fd.h"
#include "vmm/vm_stop.h"

namespace vmrun {

class StopSignal {
 public:
  StopSignal() : event_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

  // Returns true if this request decided the outcome.
  bool request(VmStop stop) {
    std::lock_guard lock(mu_);
    if (stop_) return false;
    stop_ = std::move(stop);
    stopped_.store(true, std::memory_order_release);
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(event_.get(), &one, sizeof one);
    return true;
  }

  bool stopped() const { return stopped_.load(std::memory_order_acquire); }
  std::optional<VmStop> result() const {
    std::lock_guard lock(mu_);
    return stop_;
  }
  int fd() const { return event_.get(); }

 private:
  UniqueFd event_;
  mutable std::mutex mu_;
  std::optional<VmStop> stop_;
  std::atomic<bool> stopped_{false};
};

}  // namespace vmrun
