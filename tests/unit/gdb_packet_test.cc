// gdb RSP framing: checksums, escapes, run-length encoding, acks, Ctrl-C,
// packets split anyhow, and hostile input (bad sums, oversize, malformed).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "vmm/gdb/packet.h"
#include "vmm/gdb/registers.h"

namespace vmrun::gdb {
namespace {

using Kind = PacketDecoder::Event::Kind;

std::vector<PacketDecoder::Event> feed(PacketDecoder& d, const std::string& s) {
  std::vector<PacketDecoder::Event> out;
  d.feed({reinterpret_cast<const uint8_t*>(s.data()), s.size()}, out);
  return out;
}

std::vector<PacketDecoder::Event> decode(const std::string& s) {
  PacketDecoder d;
  return feed(d, s);
}

std::string sum_hex(std::string_view raw) {
  uint8_t s = checksum(raw);
  return to_hex(std::span(&s, 1));
}

// A frame around raw (already escaped) bytes.
std::string frame(const std::string& raw) {
  return "$" + raw + "#" + sum_hex(raw);
}

TEST(GdbPacket, ChecksumIsTheByteSumMod256) {
  EXPECT_EQ(checksum(""), 0);
  EXPECT_EQ(checksum("OK"), 0x9a);
  EXPECT_EQ(checksum(std::string(300, '\xff')), (300 * 0xff) & 0xff);
  EXPECT_EQ(encode_packet("OK"), "$OK#9a");
  EXPECT_EQ(encode_packet(""), "$#00");
}

TEST(GdbPacket, EncodeEscapesTheFourSpecialBytes) {
  std::string p = encode_packet("a#b$c}d*e");
  EXPECT_EQ(p.substr(0, 15),
            "$a}\x03"
            "b}\x04"
            "c}]d}\x0a"
            "e#");
  EXPECT_EQ(p.substr(15), sum_hex(p.substr(1, 13)));
  auto ev = decode(p);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, Kind::kPacket);
  EXPECT_EQ(ev[0].data, "a#b$c}d*e");
}

TEST(GdbPacket, EveryByteSurvivesARoundTrip) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  auto ev = decode(encode_packet(all));
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].data, all);
}

TEST(GdbPacket, DecodesAPacketFedOneByteAtATime) {
  PacketDecoder d;
  std::string wire =
      "+$qSupported:swbreak+#" + sum_hex("qSupported:swbreak+") + "$g#67";
  std::vector<PacketDecoder::Event> all;
  for (char c : wire) {
    auto ev = feed(d, std::string(1, c));
    all.insert(all.end(), ev.begin(), ev.end());
  }
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].kind, Kind::kAck);
  EXPECT_EQ(all[1].data, "qSupported:swbreak+");
  EXPECT_EQ(all[2].data, "g");
}

TEST(GdbPacket, DecodesSeveralPacketsInOneChunkAndAcceptsUpperCaseSums) {
  std::string upper = sum_hex("m1000,4");
  for (char& c : upper) c = static_cast<char>(toupper(c));
  auto ev = decode("$m1000,4#" + upper + "-$c#63+");
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_EQ(ev[0].kind, Kind::kPacket);
  EXPECT_EQ(ev[0].data, "m1000,4");
  EXPECT_EQ(ev[1].kind, Kind::kNack);
  EXPECT_EQ(ev[2].data, "c");
  EXPECT_EQ(ev[3].kind, Kind::kAck);
}

TEST(GdbPacket, BadChecksumIsReportedAndTheNextPacketStillDecodes) {
  auto ev = decode("$g#68$g#67");
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].kind, Kind::kBad);
  EXPECT_EQ(ev[1].kind, Kind::kPacket);
  ev = decode("$g#zz$g#67");
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].kind, Kind::kBad);
  EXPECT_EQ(ev[1].data, "g");
}

TEST(GdbPacket, CtrlCBetweenPacketsIsAnInterruptButInsideOneIsData) {
  auto ev = decode("\x03" + frame("X0,1:\x03") + "\x03");
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[0].kind, Kind::kInterrupt);
  EXPECT_EQ(ev[1].data, "X0,1:\x03");
  EXPECT_EQ(ev[2].kind, Kind::kInterrupt);
}

TEST(GdbPacket, RunLengthEncodingExpands) {
  // "0* " = '0' and 32 - 29 = 3 more.
  auto ev = decode(frame("0* 1*!"));
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].data,
            "0000"
            "11111");
  // An escaped byte may be repeated too.
  ev = decode(frame("}]* "));
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].data, "}}}}");
}

TEST(GdbPacket, MalformedEscapesAndRunLengthsAreBad) {
  for (std::string raw :
       std::vector<std::string>{"*   ", "ab*", "ab}", "a*\x10", "a*\x7f"}) {
    auto ev = decode(frame(raw));
    ASSERT_EQ(ev.size(), 1u) << raw;
    EXPECT_EQ(ev[0].kind, Kind::kBad) << raw;
  }
}

TEST(GdbPacket, OversizedPacketsAreRefusedWithoutHoldingThem) {
  std::string huge(kMaxPacketSize + 1, 'a');
  auto ev = decode(frame(huge) + "$g#67");
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].kind, Kind::kBad);
  EXPECT_EQ(ev[1].data, "g");
  // Exactly the limit is fine.
  ev = decode(frame(std::string(kMaxPacketSize, 'a')));
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, Kind::kPacket);
  // Run lengths may not expand past it either.
  std::string bomb = "a";
  for (size_t i = 0; i < kMaxPacketSize / 2; i += 2) bomb += "*~";
  ev = decode(frame(bomb));
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, Kind::kBad);
}

TEST(GdbPacket, EndlessDataWithoutTerminatorStaysBounded) {
  PacketDecoder d;
  std::string chunk(1 << 16, 'x');
  feed(d, "$");
  for (int i = 0; i < 64; ++i) EXPECT_TRUE(feed(d, chunk).empty());
  auto ev = feed(d, "#00$g#67");
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].kind, Kind::kBad);
  EXPECT_EQ(ev[1].data, "g");
}

TEST(GdbPacket, ANewStartInsideAPacketRestarts) {
  auto ev = decode("$m10$g#67");
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].data, "g");
}

TEST(GdbPacket, NoiseBetweenPacketsIsIgnored) {
  auto ev = decode("hello\r\n#12$g#67");
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].data, "g");
}

TEST(GdbPacket, HexHelpers) {
  const uint8_t bytes[] = {0x00, 0x1f, 0xa0, 0xff};
  EXPECT_EQ(to_hex(bytes), "001fa0ff");
  EXPECT_EQ(to_hex(std::string_view("vCPU 0")), "764350552030");
  uint8_t out[4];
  EXPECT_TRUE(from_hex("001FA0ff", out));
  EXPECT_EQ(std::vector<uint8_t>(out, out + 4),
            std::vector<uint8_t>(bytes, bytes + 4));
  EXPECT_FALSE(from_hex("001fa0f", out));
  EXPECT_FALSE(from_hex("001fa0fg", out));
  EXPECT_EQ(parse_hex("ffffffffffffffff"), 0xffffffffffffffffull);
  EXPECT_EQ(parse_hex("00000000000000001000"), 0x1000u);
  EXPECT_FALSE(parse_hex("10000000000000000"));
  EXPECT_FALSE(parse_hex(""));
  EXPECT_FALSE(parse_hex("-1"));
  EXPECT_FALSE(parse_hex("12 "));
  EXPECT_EQ(hex_u64(0), "0");
  EXPECT_EQ(hex_u64(0x1a2b), "1a2b");
  EXPECT_EQ(hex_digit('g'), -1);
}

TEST(GdbRegisters, GPacketOrderMatchesTheTargetDescription) {
  X86Regs r;
  r.rax = 0x1122334455667788;
  r.rip = 0xffffffff81000000;
  r.eflags = 0x246;
  r.st[0][9] = 0x40;
  r.xmm[15][0] = 0xab;
  r.mxcsr = 0x1f80;
  r.gs_base = 0xffff888000000000;
  std::string g = encode_registers(r);
  ASSERT_EQ(g.size(), kRegisterBytes * 2);
  EXPECT_EQ(g.substr(0, 16), "8877665544332211");
  EXPECT_EQ(g.substr(16 * 16, 16), "00000081ffffffff");  // rip
  EXPECT_EQ(g.substr(17 * 16, 8), "46020000");           // eflags
  size_t st0 = (17 * 8 + 4 + 24) * 2;
  EXPECT_EQ(g.substr(st0 + 18, 2), "40");
  size_t xmm15 = (17 * 8 + 4 + 24 + 80 + 32 + 15 * 16) * 2;
  EXPECT_EQ(g.substr(xmm15, 2), "ab");
  EXPECT_EQ(g.substr(xmm15 + 32, 8), "801f0000");          // mxcsr
  EXPECT_EQ(g.substr(g.size() - 16), "000000008088ffff");  // gs_base
  X86Regs back;
  ASSERT_TRUE(decode_registers(g, back));
  EXPECT_EQ(encode_registers(back), g);
  EXPECT_FALSE(decode_registers(g.substr(2), back));
  EXPECT_FALSE(decode_registers(g.substr(2) + "zz", back));
  // The description lists the same registers in the same order.
  const std::string& xml = target_xml();
  size_t pos = 0;
  for (int i = 0; i < kNumRegisters; ++i) {
    pos = xml.find("regnum=\"" + std::to_string(i) + "\"", pos);
    ASSERT_NE(pos, std::string::npos) << i;
  }
  EXPECT_NE(xml.find("<architecture>i386:x86-64</architecture>"),
            std::string::npos);
  for (const char* f :
       {"org.gnu.gdb.i386.core", "org.gnu.gdb.i386.sse",
        "org.gnu.gdb.i386.segments", "\"fs_base\"", "\"gs_base\""})
    EXPECT_NE(xml.find(f), std::string::npos) << f;
  size_t total = 0;
  for (int i = 0; i < kNumRegisters; ++i) total += register_bytes(r, i).size();
  EXPECT_EQ(total, kRegisterBytes);
  EXPECT_TRUE(register_bytes(r, kNumRegisters).empty());
  EXPECT_TRUE(register_bytes(r, -1).empty());
}

}  // namespace
}  // namespace vmrun::gdb
