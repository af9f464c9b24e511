// One gdb client's session over a Target: the RSP command handler (a state
// machine with no I/O of its own, so tests and the fuzzer drive it directly)
// and run(), the loop that connects it to a socket.
//
// Threads and blocking: run() is called on a thread of the owner's choosing
// (Server uses its own) and blocks in poll() on three descriptors: the
// client's socket, target.stop_fd() while the guest runs, and `shutdown_fd`
// (readable = end now). Every Target call happens on that thread. Replies go
// out through a non-blocking socket with a bounded queue: a client that
// stops reading is no longer read from, and never blocks the loop.
//
// All-stop: while the guest runs the only thing the client may usefully
// send is Ctrl-C (-> target.interrupt()); packets that arrive meanwhile are
// acknowledged and held (a few) until the guest stops.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>

#include "vmm/gdb/packet.h"
#include "vmm/gdb/target.h"

namespace vmrun::gdb {

class Session {
 public:
  enum class End {
    kDetached,      // 'D': breakpoints removed, target.detach()
    kKilled,        // 'k' / vKill: target.kill()
    kDisconnected,  // the client went away: target.detach()
    kShutdown,      // shutdown_fd: target.detach()
  };

  // Serves the connected socket `sock_fd` (made non-blocking; not closed
  // here) until the session ends, then leaves the target as End says and
  // returns.
  static End run(Target& target, int sock_fd, int shutdown_fd);

  explicit Session(Target& target) : target_(target) {}

  // Asks the guest to stop for the client; the first stop is not announced
  // (gdb asks with '?').
  void start();
  // Bytes from the client.
  void input(std::span<const uint8_t> bytes);
  // The target's stop_fd is readable.
  void target_stopped();
  // Bytes to send to the client, taken.
  std::string take_output() { return std::exchange(out_, {}); }

  bool waiting_for_stop() const { return waiting_; }
  // Set once the client detached or killed; nothing more is read.
  std::optional<End> ended() const { return ended_; }
  // Leaves the target as `why` requires (detach() or kill()); once.
  void finish(End why);

  static const char* name(End why);

 private:
  using Breakpoint = std::tuple<BreakpointKind, uint64_t, uint64_t>;

  void on_packet(std::string data);
  void handle(std::string_view p);
  void reply(std::string_view payload);
  std::string stop_reply() const;

  // Commands (guest_access.cc: registers, memory, breakpoints; session.cc:
  // resuming; queries.cc: the rest).
  void cmd_registers(std::string_view p);
  void cmd_memory(std::string_view p);
  void cmd_breakpoint(std::string_view p);
  void cmd_resume(std::string_view p);
  void cmd_vcont(std::string_view p);
  void cmd_set_thread(std::string_view p);
  void cmd_query(std::string_view p);
  void cmd_xfer(std::string_view p);
  void cmd_monitor(std::string_view hex_command);
  void resume(std::optional<int> step);

  // gdb thread id (hex, "-1" or "0") to a vCPU index; nullopt = invalid.
  std::optional<int64_t> parse_thread(std::string_view s) const;
  std::optional<int> vcpu_of(int64_t tid);
  int selected(int64_t tid);  // Hg/Hc choice, or the current thread

  static constexpr size_t kMaxPending = 16;
  static constexpr size_t kMaxBreakpoints = 1024;
  static constexpr int kMaxResends = 8;

  Target& target_;
  PacketDecoder decoder_;
  std::string out_;
  std::string last_packet_;  // resent on '-' until acknowledged
  int resends_ = 0;
  bool no_ack_ = false;
  bool waiting_ = false;
  bool announce_stop_ = true;
  bool attach_stop_ = false;  // the first stop, reported as a trap
  bool interrupted_ = false;
  std::deque<std::string> pending_;
  int current_ = 0;        // vCPU of the last stop
  int64_t g_thread_ = 0;   // Hg: 0 = current
  int64_t c_thread_ = -1;  // Hc: -1 = all
  StopEvent last_stop_;
  bool exited_ = false;
  std::set<Breakpoint> breakpoints_;
  std::optional<End> ended_;
  bool finished_ = false;
};

}  // namespace vmrun::gdb
