#include "vmm/gdb/server.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "vmm/gdb/session.h"

namespace vmrun::gdb {

namespace {

Error bad_address(std::string_view spec) {
  return Error("--gdb: expected tcp::PORT, tcp:HOST:PORT or PORT, not '" +
               std::string(spec) + "'");
}

std::optional<uint16_t> parse_port(std::string_view s) {
  if (s.empty() || s.size() > 5) return std::nullopt;
  uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  if (v > 65535) return std::nullopt;
  return static_cast<uint16_t>(v);
}

std::string peer_name(const sockaddr_storage& addr, socklen_t len) {
  char host[NI_MAXHOST], serv[NI_MAXSERV];
  if (::getnameinfo(reinterpret_cast<const sockaddr*>(&addr), len, host,
                    sizeof host, serv, sizeof serv,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
    return "?";
  return std::string(host) + ":" + serv;
}

}  // namespace

Result<ListenAddress> parse_listen_address(std::string_view spec) {
  ListenAddress a;
  std::string_view port = spec;
  if (spec.starts_with("tcp:")) {
    std::string_view rest = spec.substr(4);
    std::string_view host;
    if (rest.starts_with('[')) {
      size_t close = rest.find(']');
      if (close == std::string_view::npos || close + 1 >= rest.size() ||
          rest[close + 1] != ':')
        return bad_address(spec);
      host = rest.substr(1, close - 1);
      if (host.empty()) return bad_address(spec);
      port = rest.substr(close + 2);
    } else {
      size_t colon = rest.rfind(':');
      if (colon == std::string_view::npos) return bad_address(spec);
      host = rest.substr(0, colon);
      port = rest.substr(colon + 1);
    }
    for (char c : host) {
      if (c <= ' ' || c > '~' || c == '/') return bad_address(spec);
    }
    if (host.size() > 255) return bad_address(spec);
    if (!host.empty()) a.host = std::string(host);
  } else if (port.empty() || port.find(':') != std::string_view::npos) {
    return bad_address(spec);
  }
  auto p = parse_port(port);
  if (!p) {
    return Error("--gdb: bad port '" + std::string(port) + "' in '" +
                 std::string(spec) + "' (expected 0 to 65535)");
  }
  a.port = *p;
  return a;
}

Result<std::unique_ptr<Server>> Server::start(const ListenAddress& address,
                                              Target& target) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  std::string service = std::to_string(address.port);
  int rc = ::getaddrinfo(address.host.c_str(), service.c_str(), &hints, &found);
  if (rc != 0) {
    return Error("gdb: cannot resolve '" + address.host +
                 "': " + ::gai_strerror(rc));
  }
  UniqueFd listener;
  int err = EADDRNOTAVAIL;
  for (addrinfo* ai = found; ai && !listener.valid(); ai = ai->ai_next) {
    UniqueFd fd(
        ::socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd.valid()) {
      err = errno;
      continue;
    }
    int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0 ||
        ::listen(fd.get(), 1) != 0) {
      err = errno;
      continue;
    }
    listener = std::move(fd);
  }
  ::freeaddrinfo(found);
  if (!listener.valid()) {
    return Error::from_errno("gdb: listen on " + address.host + ":" + service,
                             err);
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  if (::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&bound),
                    &len) != 0)
    return Error::from_errno("gdb: getsockname");
  uint16_t port = ntohs(bound.ss_family == AF_INET6
                            ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                            : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  UniqueFd shutdown(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!shutdown.valid()) return Error::from_errno("gdb: eventfd");
  std::unique_ptr<Server> server(
      new Server(std::move(listener), std::move(shutdown), port, target));
  server->thread_ = std::thread([s = server.get()] { s->serve(); });
  spdlog::info("gdb: listening on {}:{}", address.host, port);
  return server;
}

void Server::serve() {
  for (;;) {
    pollfd fds[2] = {{listener_.get(), POLLIN, 0},
                     {shutdown_.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0 && errno != EINTR) {
      spdlog::error("gdb: poll: {}", std::strerror(errno));
      return;
    }
    if (fds[1].revents) return;
    if (!(fds[0].revents & POLLIN)) continue;
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    UniqueFd client(::accept4(listener_.get(),
                              reinterpret_cast<sockaddr*>(&peer), &len,
                              SOCK_CLOEXEC));
    if (!client.valid()) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
          errno == ECONNABORTED)
        continue;
      // Out of descriptors and the like: try again later, not in a spin.
      spdlog::warn("gdb: accept: {}", std::strerror(errno));
      pollfd wait{shutdown_.get(), POLLIN, 0};
      ::poll(&wait, 1, 100);
      continue;
    }
    int one = 1;
    ::setsockopt(client.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    spdlog::info("gdb: client {} connected", peer_name(peer, len));
    Session::End why = Session::run(target_, client.get(), shutdown_.get());
    spdlog::info("gdb: session ended ({})", Session::name(why));
    if (why == Session::End::kShutdown || why == Session::End::kKilled) return;
  }
}

void Server::stop() {
  if (shutdown_.valid()) {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(shutdown_.get(), &one, sizeof one);
  }
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id())
    thread_.join();
}

}  // namespace vmrun::gdb
