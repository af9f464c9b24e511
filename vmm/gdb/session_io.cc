// Session::run: the session on a socket. One thread, one poll() loop.
#include <fcntl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "vmm/gdb/session.h"

namespace vmrun::gdb {

namespace {

// Replies queued for a client that does not read; past this we stop
// reading its requests (each request makes at most one reply).
constexpr size_t kMaxQueued = 1 << 20;

// false: the client is gone.
bool send_some(int sock, std::string& out) {
  ssize_t n = ::send(sock, out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n > 0) {
    out.erase(0, static_cast<size_t>(n));
    return true;
  }
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
}

// The last reply (to D or vKill) before closing, within a second.
void flush(int sock, std::string& out) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (!out.empty()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return;
    pollfd pfd{sock, POLLOUT, 0};
    int r = ::poll(&pfd, 1, static_cast<int>(left.count()));
    if (r < 0 && errno != EINTR) return;
    if (r > 0 && !send_some(sock, out)) return;
  }
}

}  // namespace

Session::End Session::run(Target& target, int sock_fd, int shutdown_fd) {
  int flags = ::fcntl(sock_fd, F_GETFL);
  if (flags >= 0) ::fcntl(sock_fd, F_SETFL, flags | O_NONBLOCK);
  Session s(target);
  s.start();
  std::string out;
  End why = End::kDisconnected;
  uint8_t buf[4096];
  for (;;) {
    out += s.take_output();
    if (s.ended()) {
      why = *s.ended();
      flush(sock_fd, out);
      break;
    }
    short sock_events = static_cast<short>(
        (out.size() < kMaxQueued ? POLLIN : 0) | (out.empty() ? 0 : POLLOUT));
    pollfd fds[3] = {
        {sock_fd, sock_events, 0},
        {shutdown_fd, POLLIN, 0},
        {s.waiting_for_stop() ? target.stop_fd() : -1, POLLIN, 0},
    };
    if (::poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::warn("gdb: poll: {}", std::strerror(errno));
      break;
    }
    if (fds[1].revents) {
      why = End::kShutdown;
      break;
    }
    if (fds[2].revents & POLLNVAL) {
      spdlog::error(
          "gdb: the target's stop_fd is not open; ending the session");
      why = End::kShutdown;
      break;
    }
    if ((fds[0].revents & POLLOUT) && !send_some(sock_fd, out)) break;
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) {
      ssize_t n = ::recv(sock_fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n == 0) break;
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        break;
      if (n > 0) s.input(std::span(buf, static_cast<size_t>(n)));
    }
    if (fds[2].revents) s.target_stopped();
  }
  s.finish(why);
  return why;
}

}  // namespace vmrun::gdb
