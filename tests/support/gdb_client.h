// The far end of a gdb stub's socket for tests: raw bytes out, and waiting
// (with a deadline) for what the stub sends back.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "vmm/unique_fd.h"

namespace vmrun::test_support {

class GdbWire {
 public:
  explicit GdbWire(int fd) : fd_(fd) {}

  // A TCP connection to 127.0.0.1:port (invalid fd on failure).
  static GdbWire connect_tcp(uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 &&
        ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd);
      fd = -1;
    }
    return GdbWire(fd);
  }

  bool valid() const { return fd_.valid(); }
  int fd() const { return fd_.get(); }
  void close() { fd_.reset(); }

  bool send(const std::string& bytes) {
    return ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
  }

  // Reads until `want` has arrived (kept in got()), the peer closes, or
  // the deadline passes.
  bool wait_for(const std::string& want, int ms = 5000) {
    auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (got_.find(want) == std::string::npos) {
      if (!read_some(deadline)) return false;
    }
    return true;
  }

  // True if the peer closed within the deadline.
  bool wait_closed(int ms = 5000) {
    auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (read_some(deadline)) {
    }
    return closed_;
  }

  const std::string& got() const { return got_; }

 private:
  bool read_some(std::chrono::steady_clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || closed_) return false;
    pollfd p{fd_.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char buf[4096];
    ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
    if (n <= 0) {
      closed_ = true;
      return false;
    }
    got_.append(buf, static_cast<size_t>(n));
    return true;
  }

  UniqueFd fd_;
  std::string got_;
  bool closed_ = false;
};

}  // namespace vmrun::test_support
