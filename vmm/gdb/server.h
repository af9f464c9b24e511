// The gdb stub's TCP listener: `--gdb tcp::1234` (or tcp:HOST:PORT, or a
// bare PORT), one client at a time, each served by a Session on the
// server's own thread. Further clients wait in the listen backlog until the
// current one leaves. A session that ends by 'k' ends the server too (the VM
// is stopping).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "vmm/gdb/target.h"
#include "vmm/result.h"
#include "vmm/unique_fd.h"

namespace vmrun::gdb {

struct ListenAddress {
  std::string host = "127.0.0.1";  // a name or numeric IPv4/IPv6 address
  uint16_t port = 0;               // 0: any free port (Server::port() says)
};

// "tcp::PORT", "tcp:HOST:PORT" ("tcp:[::1]:PORT" for IPv6) or "PORT".
// Errors are one line, naming the value.
Result<ListenAddress> parse_listen_address(std::string_view spec);

class Server {
 public:
  // Binds and listens (the port is known when this returns), then serves on
  // a new thread. `target` must outlive the Server.
  static Result<std::unique_ptr<Server>> start(const ListenAddress& address,
                                               Target& target);
  ~Server() { stop(); }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  uint16_t port() const { return port_; }

  // Ends a running session (as kShutdown: target.detach()) and the
  // listener, and waits for the thread. Promptly: nothing in the server
  // blocks except in poll() on the shutdown event. From any thread; from
  // within a Target call (the server's own thread) it only signals, and the
  // destructor must then run on another thread.
  void stop();

 private:
  Server(UniqueFd listener, UniqueFd shutdown, uint16_t port, Target& target)
      : listener_(std::move(listener)),
        shutdown_(std::move(shutdown)),
        port_(port),
        target_(target) {}
  void serve();

  UniqueFd listener_;
  UniqueFd shutdown_;  // eventfd, written once by stop()
  uint16_t port_;
  Target& target_;
  std::thread thread_;
};

}  // namespace vmrun::gdb
