// Session commands that read or change the stopped guest: registers (g G p
// P), memory (m M X) and breakpoints (Z z).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <vector>

#include "vmm/gdb/registers.h"
#include "vmm/gdb/session.h"

namespace vmrun::gdb {

namespace {

// The most bytes one 'm' reply carries: two hex digits each must fit in a
// packet gdb accepts (it sizes its buffer from our PacketSize).
constexpr size_t kMaxRead = (kMaxPacketSize - 32) / 2;

// "addr,len" in hex, as m, M, X and Z carry them.
bool parse_addr_len(std::string_view s, uint64_t& addr, uint64_t& len) {
  size_t comma = s.find(',');
  if (comma == std::string_view::npos) return false;
  auto a = parse_hex(s.substr(0, comma));
  auto l = parse_hex(s.substr(comma + 1));
  if (!a || !l) return false;
  addr = *a;
  len = *l;
  return true;
}

// `len` cut so that addr + len does not wrap past the top of the address
// space.
uint64_t clamp_to_top(uint64_t addr, uint64_t len) {
  uint64_t room = 0 - addr;
  return (addr != 0 && len > room) ? room : len;
}

}  // namespace

void Session::cmd_registers(std::string_view p) {
  int vcpu = selected(g_thread_);
  auto regs = target_.read_registers(vcpu);
  if (!regs) {
    spdlog::debug("gdb: registers of vcpu {}: {}", vcpu,
                  regs.error().message());
    return reply("E01");
  }
  X86Regs& r = regs.value();
  if (p[0] == 'g') return reply(encode_registers(r));
  if (p[0] == 'p') {
    auto n = parse_hex(p.substr(1));
    auto bytes = register_bytes(r, n && *n < kNumRegisters ? int(*n) : -1);
    return reply(bytes.empty() ? "E16" : to_hex(bytes));
  }
  if (p[0] == 'G') {
    if (!decode_registers(p.substr(1), r)) return reply("E16");
  } else {  // P n=value
    size_t eq = p.find('=');
    if (eq == std::string_view::npos) return reply("E16");
    auto n = parse_hex(p.substr(1, eq - 1));
    auto bytes = register_bytes(r, n && *n < kNumRegisters ? int(*n) : -1);
    std::vector<uint8_t> value(bytes.size());
    if (bytes.empty() || !from_hex(p.substr(eq + 1), value))
      return reply("E16");
    std::copy(value.begin(), value.end(), bytes.begin());
  }
  auto w = target_.write_registers(vcpu, r);
  if (!w) spdlog::debug("gdb: write registers: {}", w.error().message());
  reply(w ? "OK" : "E01");
}

void Session::cmd_memory(std::string_view p) {
  char c = p[0];
  size_t colon = p.find(':');
  if ((c == 'm') != (colon == std::string_view::npos)) return reply("E16");
  uint64_t addr = 0, len = 0;
  if (!parse_addr_len(
          p.substr(1, colon == std::string_view::npos ? std::string_view::npos
                                                      : colon - 1),
          addr, len))
    return reply("E16");
  int vcpu = selected(g_thread_);
  if (c == 'm') {
    // A short read is a valid reply; gdb asks again for the rest.
    len = clamp_to_top(addr, std::min<uint64_t>(len, kMaxRead));
    if (len == 0) return reply("E16");
    std::vector<uint8_t> buf(len);
    auto n = target_.read_memory(vcpu, addr, buf);
    if (!n) spdlog::debug("gdb: read {:#x}: {}", addr, n.error().message());
    if (!n || *n == 0) return reply("E0e");
    return reply(to_hex(std::span(buf).first(std::min<size_t>(*n, len))));
  }
  std::string_view data = p.substr(colon + 1);
  std::vector<uint8_t> bytes;
  if (c == 'M') {
    if (len > kMaxPacketSize || data.size() != 2 * len) return reply("E16");
    bytes.resize(len);
    if (!from_hex(data, bytes)) return reply("E16");
  } else {
    if (data.size() != len) return reply("E16");
    bytes.assign(data.begin(), data.end());
  }
  if (bytes.empty()) return reply("OK");  // gdb's probe for X
  if (clamp_to_top(addr, len) != len) return reply("E0e");
  auto n = target_.write_memory(vcpu, addr, bytes);
  if (!n) spdlog::debug("gdb: write {:#x}: {}", addr, n.error().message());
  reply(n && *n == bytes.size() ? "OK" : "E0e");
}

void Session::cmd_breakpoint(std::string_view p) {
  static constexpr BreakpointKind kinds[] = {
      BreakpointKind::kSoftware, BreakpointKind::kHardware,
      BreakpointKind::kWriteWatch, BreakpointKind::kReadWatch,
      BreakpointKind::kAccessWatch};
  if (p.size() < 3 || p[1] < '0' || p[1] > '4' || p[2] != ',') return reply("");
  BreakpointKind kind = kinds[p[1] - '0'];
  // Conditions and commands (";X...") are not advertised; ignore them.
  std::string_view args = p.substr(3);
  args = args.substr(0, args.find(';'));
  uint64_t addr = 0, len = 0;
  if (!parse_addr_len(args, addr, len)) return reply("E16");
  if (!target_.supports_breakpoint(kind)) return reply("");
  Breakpoint key{kind, addr, len};
  bool present = breakpoints_.count(key) != 0;
  if (p[0] == 'Z') {
    // Idempotent, as the protocol asks: gdb may insert twice.
    if (present) return reply("OK");
    if (breakpoints_.size() >= kMaxBreakpoints) return reply("E0c");
    auto r = target_.insert_breakpoint(kind, addr, len);
    if (!r) {
      spdlog::debug("gdb: insert {:#x}: {}", addr, r.error().message());
      return reply("E01");
    }
    breakpoints_.insert(key);
    return reply("OK");
  }
  if (!present) return reply("OK");
  auto r = target_.remove_breakpoint(kind, addr, len);
  if (!r) {
    spdlog::debug("gdb: remove {:#x}: {}", addr, r.error().message());
    return reply("E01");
  }
  breakpoints_.erase(key);
  reply("OK");
}

}  // namespace vmrun::gdb
