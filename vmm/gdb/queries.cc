// Session commands that only ask or select: q/Q queries, the target
// description, threads.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>

#include "vmm/gdb/registers.h"
#include "vmm/gdb/session.h"

namespace vmrun::gdb {

namespace {

constexpr std::string_view kSupported =
    "PacketSize=10000;qXfer:features:read+;swbreak+;hwbreak+;"
    "QStartNoAckMode+;vContSupported+";
static_assert(kMaxPacketSize == 0x10000, "PacketSize above is this, in hex");

}  // namespace

const char* Session::name(End why) {
  switch (why) {
    case End::kDetached:
      return "detached";
    case End::kKilled:
      return "killed";
    case End::kDisconnected:
      return "client disconnected";
    case End::kShutdown:
      return "shut down";
  }
  return "?";
}

std::optional<int64_t> Session::parse_thread(std::string_view s) const {
  if (s == "-1") return -1;
  auto v = parse_hex(s);
  if (!v || *v > uint64_t{std::numeric_limits<int32_t>::max()})
    return std::nullopt;
  return static_cast<int64_t>(*v);
}

std::optional<int> Session::vcpu_of(int64_t tid) {
  if (tid < 1) return std::nullopt;
  auto all = target_.threads();
  int v = static_cast<int>(tid - 1);
  if (std::find(all.begin(), all.end(), v) == all.end()) return std::nullopt;
  return v;
}

int Session::selected(int64_t tid) {
  if (auto v = vcpu_of(tid)) return *v;
  return current_;
}

void Session::cmd_set_thread(std::string_view p) {
  if (p.size() < 3 || (p[1] != 'g' && p[1] != 'c')) return reply("");
  auto tid = parse_thread(p.substr(2));
  if (!tid || (*tid > 0 && !vcpu_of(*tid))) return reply("E01");
  (p[1] == 'g' ? g_thread_ : c_thread_) = *tid;
  reply("OK");
}

void Session::cmd_query(std::string_view p) {
  if (p.starts_with("qSupported")) return reply(kSupported);
  if (p == "QStartNoAckMode") {
    // This reply still goes out under acks; after it, none either way.
    reply("OK");
    no_ack_ = true;
    last_packet_.clear();
    return;
  }
  if (p.starts_with("qXfer:")) return cmd_xfer(p);
  if (p == "qAttached" || p.starts_with("qAttached:")) return reply("1");
  if (p == "qC") return reply("QC" + hex_u64(uint64_t(current_) + 1));
  if (p == "qfThreadInfo") {
    if (exited_) return reply("l");
    std::string list = "m";
    for (int v : target_.threads()) {
      // KVM has at most a few thousand vCPUs; stay inside one packet anyway.
      if (list.size() > kMaxPacketSize / 2) break;
      if (list.size() > 1) list += ',';
      list += hex_u64(uint64_t(v) + 1);
    }
    return reply(list);
  }
  if (p == "qsThreadInfo") return reply("l");
  if (p.starts_with("qRcmd,")) return cmd_monitor(p.substr(6));
  if (p.starts_with("qThreadExtraInfo,")) {
    auto tid = parse_thread(p.substr(17));
    auto v = tid ? vcpu_of(*tid) : std::nullopt;
    if (!v) return reply("E01");
    return reply(to_hex("vCPU " + std::to_string(*v)));
  }
  reply("");
}

// gdb's `monitor CMD`. `info version` is what the kernel's gdb scripts
// (lx-symbols, $lx_current()...) ask to recognise QEMU's stub, whose thread
// N is vCPU N-1, as here: answering it lets them find the current CPU.
void Session::cmd_monitor(std::string_view hex_command) {
  std::string command(hex_command.size() / 2, '\0');
  if (hex_command.size() % 2 != 0 ||
      !from_hex(hex_command, {reinterpret_cast<uint8_t*>(command.data()), command.size()})) {
    return reply("E16");
  }
  if (command == "info version") return reply(to_hex("vmrun " VMRUN_VERSION "\n"));
  if (command == "help" || command.empty()) {
    return reply(to_hex("vmrun's gdb stub knows: monitor info version, monitor help\n"));
  }
  reply(to_hex("unknown monitor command (monitor help lists them)\n"));
}

void Session::cmd_xfer(std::string_view p) {
  constexpr std::string_view prefix = "qXfer:features:read:";
  if (!p.starts_with(prefix)) return reply("");
  std::string_view rest = p.substr(prefix.size());
  size_t colon = rest.find(':');
  if (colon == std::string_view::npos) return reply("E16");
  if (rest.substr(0, colon) != "target.xml") return reply("E00");
  std::string_view range = rest.substr(colon + 1);
  size_t comma = range.find(',');
  if (comma == std::string_view::npos) return reply("E16");
  auto offset = parse_hex(range.substr(0, comma));
  auto length = parse_hex(range.substr(comma + 1));
  if (!offset || !length) return reply("E16");
  const std::string& xml = target_xml();
  if (*offset >= xml.size()) return reply("l");
  // Escaping can double the size on the wire; keep to half a packet.
  uint64_t n =
      std::min<uint64_t>({*length, xml.size() - *offset, kMaxPacketSize / 2});
  bool last = *offset + n >= xml.size();
  reply((last ? "l" : "m") + xml.substr(*offset, n));
}

}  // namespace vmrun::gdb
