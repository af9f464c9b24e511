// Session state (acks, stops, held packets), the dispatch of packets to
// commands, resuming the guest and how a session ends.
#include "vmm/gdb/session.h"

#include <spdlog/spdlog.h>

#include <vector>

namespace vmrun::gdb {

void Session::start() {
  announce_stop_ = false;
  attach_stop_ = true;
  waiting_ = true;
  interrupted_ = true;
  target_.interrupt();
}

void Session::input(std::span<const uint8_t> bytes) {
  if (ended_) return;
  std::vector<PacketDecoder::Event> events;
  decoder_.feed(bytes, events);
  using Kind = PacketDecoder::Event::Kind;
  for (auto& e : events) {
    if (ended_) return;
    switch (e.kind) {
      case Kind::kPacket:
        if (!no_ack_) out_ += '+';
        on_packet(std::move(e.data));
        break;
      case Kind::kBad:
        spdlog::debug("gdb: dropped a packet: {}", e.data);
        if (!no_ack_) out_ += '-';
        break;
      case Kind::kAck:
        last_packet_.clear();
        resends_ = 0;
        break;
      case Kind::kNack:
        // Bounded: a client that nacks forever gets a few copies only.
        if (!no_ack_ && !last_packet_.empty() && resends_ < kMaxResends) {
          ++resends_;
          out_ += last_packet_;
        }
        break;
      case Kind::kInterrupt:
        if (waiting_ && !interrupted_) {
          interrupted_ = true;
          target_.interrupt();
        }
        break;
    }
  }
}

void Session::on_packet(std::string data) {
  if (!waiting_) {
    handle(data);
    return;
  }
  if (pending_.size() < kMaxPending) {
    pending_.push_back(std::move(data));
  } else {
    spdlog::debug("gdb: dropped a packet sent while the guest runs");
  }
}

void Session::target_stopped() {
  if (!waiting_) return;
  auto ev = target_.take_stop();
  if (!ev) return;
  waiting_ = false;
  interrupted_ = false;
  last_stop_ = *ev;
  if (!vcpu_of(ev->thread + int64_t{1})) {
    auto all = target_.threads();
    last_stop_.thread = all.empty() ? 0 : all.front();
  }
  current_ = last_stop_.thread;
  // gdb takes the stopped thread as the one its next 'g' reads.
  g_thread_ = 0;
  if (ev->reason == StopEvent::Reason::kExited) exited_ = true;
  if (announce_stop_) {
    attach_stop_ = false;
    reply(stop_reply());
  }
  announce_stop_ = true;
  while (!waiting_ && !ended_ && !pending_.empty()) {
    std::string p = std::move(pending_.front());
    pending_.pop_front();
    handle(p);
  }
}

void Session::reply(std::string_view payload) {
  std::string packet = encode_packet(payload);
  out_ += packet;
  if (!no_ack_) {
    last_packet_ = std::move(packet);
    resends_ = 0;
  }
}

std::string Session::stop_reply() const {
  using R = StopEvent::Reason;
  if (exited_) {
    uint8_t status = static_cast<uint8_t>(last_stop_.exit_status & 0xff);
    return "W" + to_hex(std::span(&status, 1));
  }
  bool sigint = last_stop_.reason == R::kInterrupted && !attach_stop_;
  std::string r = std::string(sigint ? "T02" : "T05") +
                  "thread:" + hex_u64(static_cast<uint64_t>(current_) + 1) +
                  ";";
  switch (last_stop_.reason) {
    case R::kSwBreakpoint:
      r += "swbreak:;";
      break;
    case R::kHwBreakpoint:
      r += "hwbreak:;";
      break;
    case R::kWatchpoint: {
      auto k = last_stop_.watch_kind;
      r += k == BreakpointKind::kReadWatch     ? "rwatch:"
           : k == BreakpointKind::kAccessWatch ? "awatch:"
                                               : "watch:";
      r += hex_u64(last_stop_.watch_addr) + ";";
      break;
    }
    default:
      break;
  }
  return r;
}

void Session::handle(std::string_view p) {
  if (p.empty()) return reply("");
  char c = p[0];
  // Once the guest is gone there is nothing to read, write or run: gdb gets
  // errors and, for a resume, the exit again.
  if (exited_ &&
      std::string_view("gGpPmMXZzT").find(c) != std::string_view::npos)
    return reply("E01");
  if (exited_ && (c == 'c' || c == 'C' || c == 's' || c == 'S' ||
                  (p.starts_with("vCont;"))))
    return reply(stop_reply());
  switch (c) {
    case '?':
      return reply(stop_reply());
    case 'g':
    case 'G':
    case 'p':
    case 'P':
      return cmd_registers(p);
    case 'm':
    case 'M':
    case 'X':
      return cmd_memory(p);
    case 'Z':
    case 'z':
      return cmd_breakpoint(p);
    case 'c':
    case 'C':
    case 's':
    case 'S':
      return cmd_resume(p);
    case 'H':
      return cmd_set_thread(p);
    case 'q':
    case 'Q':
      return cmd_query(p);
    case 'T': {
      auto tid = parse_thread(p.substr(1));
      return reply(tid && vcpu_of(*tid) ? "OK" : "E01");
    }
    case 'v':
      if (p.starts_with("vCont")) return cmd_vcont(p);
      if (p.starts_with("vKill")) {
        reply("OK");
        ended_ = End::kKilled;
        return;
      }
      return reply("");
    case 'D':
      if (!exited_) {
        for (const auto& [kind, addr, len] : breakpoints_) {
          auto r = target_.remove_breakpoint(kind, addr, len);
          if (!r) spdlog::warn("gdb: detach: {}", r.error().message());
        }
      }
      breakpoints_.clear();
      reply("OK");
      ended_ = End::kDetached;
      return;
    case 'k':
      ended_ = End::kKilled;  // 'k' has no reply
      return;
    default:
      return reply("");
  }
}

void Session::cmd_resume(std::string_view p) {
  bool step = p[0] == 's' || p[0] == 'S';
  std::string_view arg = p.substr(1);
  if (p[0] == 'C' || p[0] == 'S') {
    // A signal to deliver means nothing to a whole machine; drop it.
    size_t semi = arg.find(';');
    arg = semi == std::string_view::npos ? std::string_view()
                                         : arg.substr(semi + 1);
  }
  int vcpu = selected(c_thread_);
  if (!arg.empty()) {
    auto addr = parse_hex(arg);
    if (!addr) return reply("E16");
    auto regs = target_.read_registers(vcpu);
    if (!regs) return reply("E01");
    regs.value().rip = *addr;
    if (!target_.write_registers(vcpu, regs.value())) return reply("E01");
  }
  resume(step ? std::optional<int>(vcpu) : std::nullopt);
}

void Session::cmd_vcont(std::string_view p) {
  if (p == "vCont?") return reply("vCont;c;C;s;S");
  if (!p.starts_with("vCont;")) return reply("");
  std::optional<int> step;
  bool any = false;
  std::string_view rest = p.substr(6);
  while (!rest.empty()) {
    size_t semi = rest.find(';');
    std::string_view action = rest.substr(0, semi);
    rest = semi == std::string_view::npos ? std::string_view()
                                          : rest.substr(semi + 1);
    if (action.empty()) return reply("E16");
    size_t colon = action.find(':');
    std::optional<int> vcpu;  // nullopt: the action is for every thread
    if (colon != std::string_view::npos) {
      auto tid = parse_thread(action.substr(colon + 1));
      if (!tid) return reply("E16");
      if (*tid > 0) {
        vcpu = vcpu_of(*tid);
        if (!vcpu) return reply("E16");
      }
    }
    switch (action[0]) {
      case 'c':
      case 'C':
        any = true;
        break;
      case 's':
      case 'S':
        // The leftmost action for a thread wins; one thread steps.
        if (!step) step = vcpu ? *vcpu : current_;
        any = true;
        break;
      default:  // 't' (all-stop never sends it) and unadvertised 'r'
        return reply("E16");
    }
  }
  if (!any) return reply("E16");
  resume(step);
}

void Session::resume(std::optional<int> step) {
  waiting_ = true;
  interrupted_ = false;
  target_.resume(step);
}

void Session::finish(End why) {
  if (finished_) return;
  finished_ = true;
  if (why == End::kKilled) return target_.kill();
  // Stopped: remove what gdb inserted now, the way it was inserted; running
  // or gone: detach() removes the rest.
  if (!waiting_ && !exited_) {
    for (const auto& [kind, addr, len] : breakpoints_) {
      auto r = target_.remove_breakpoint(kind, addr, len);
      if (!r)
        spdlog::warn("gdb: removing a breakpoint: {}", r.error().message());
    }
  }
  breakpoints_.clear();
  target_.detach();
}

}  // namespace vmrun::gdb
