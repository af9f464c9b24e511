// The gdb stub's command handler against a FakeGdbTarget: every command,
// acks, stops, held packets, and how a session leaves the target.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/support/fake_gdb_target.h"
#include "vmm/gdb/packet.h"
#include "vmm/gdb/registers.h"
#include "vmm/gdb/session.h"

namespace vmrun::gdb {
namespace {

using test_support::FakeGdbTarget;
using Reason = StopEvent::Reason;
using Kind = BreakpointKind;

class GdbSession : public ::testing::Test {
 protected:
  void SetUp() override {
    session.start();
    EXPECT_EQ(target.interrupts, 1);
    session.target_stopped();
    EXPECT_EQ(session.take_output(), "");  // the first stop is not announced
  }

  // Raw bytes in; the packets that come back (acks counted separately).
  std::vector<std::string> send_raw(const std::string& bytes) {
    session.input(
        {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
    return replies();
  }
  std::vector<std::string> replies() {
    std::string out = session.take_output();
    last_raw = out;
    std::vector<PacketDecoder::Event> ev;
    client.feed({reinterpret_cast<const uint8_t*>(out.data()), out.size()}, ev);
    std::vector<std::string> packets;
    for (auto& e : ev) {
      if (e.kind == PacketDecoder::Event::Kind::kAck) ++acks;
      if (e.kind == PacketDecoder::Event::Kind::kNack) ++nacks;
      if (e.kind == PacketDecoder::Event::Kind::kPacket)
        packets.push_back(e.data);
    }
    return packets;
  }
  // One command, exactly one reply.
  std::string cmd(const std::string& payload) {
    auto r = send_raw(encode_packet(payload));
    EXPECT_EQ(r.size(), 1u) << payload;
    return r.empty() ? "<none>" : r[0];
  }
  // A resume: no reply until the target stops.
  std::string resume(const std::string& payload) {
    EXPECT_TRUE(send_raw(encode_packet(payload)).empty()) << payload;
    EXPECT_TRUE(session.waiting_for_stop()) << payload;
    session.target_stopped();
    auto r = replies();
    EXPECT_EQ(r.size(), 1u) << payload;
    return r.empty() ? "<none>" : r[0];
  }
  std::string mem_hex(uint64_t addr, size_t n) {
    return to_hex(std::span(target.mem).subspan(addr, n));
  }

  FakeGdbTarget target;
  Session session{target};
  PacketDecoder client;
  std::string last_raw;
  int acks = 0, nacks = 0;
};

TEST_F(GdbSession, AcksPacketsAndResendsOnNack) {
  EXPECT_EQ(cmd("?"), "T05thread:1;");
  EXPECT_EQ(last_raw.substr(0, 2), "+$");
  EXPECT_EQ(send_raw("-"), std::vector<std::string>{"T05thread:1;"});
  EXPECT_TRUE(send_raw("+").empty());
  EXPECT_TRUE(send_raw("-").empty());  // acknowledged: nothing to resend
  EXPECT_TRUE(send_raw("$?#00").empty());
  EXPECT_EQ(nacks, 1);
  // A client nacking forever gets a bounded number of copies.
  cmd("?");
  EXPECT_EQ(send_raw(std::string(100, '-')).size(), 8u);
}

TEST_F(GdbSession, NoAckModeStopsAcksBothWays) {
  EXPECT_EQ(cmd("QStartNoAckMode"), "OK");
  EXPECT_EQ(last_raw[0], '+');  // that one still acknowledged
  cmd("?");
  EXPECT_EQ(last_raw[0], '$');
  EXPECT_TRUE(send_raw("-").empty());
  EXPECT_TRUE(send_raw("$?#00").empty());  // bad sums are just dropped
  EXPECT_EQ(last_raw, "");
}

TEST_F(GdbSession, SupportedFeaturesAndUnknownPackets) {
  std::string s =
      cmd("qSupported:multiprocess+;swbreak+;hwbreak+;vContSupported+");
  for (const char* f : {"PacketSize=10000", "qXfer:features:read+", "swbreak+",
                        "hwbreak+", "QStartNoAckMode+", "vContSupported+"})
    EXPECT_NE(s.find(f), std::string::npos) << f;
  for (const char* p :
       {"qTStatus", "vMustReplyEmpty", "!", "x", "qXfer:auxv:read::0,10",
        "QThreadEvents:1", "vFile:open:", "Z9,0,1", "Hx1", "v"})
    EXPECT_EQ(cmd(p), "") << p;
  EXPECT_EQ(cmd("vCont?"), "vCont;c;C;s;S");
}

TEST_F(GdbSession, ThreadsAreVcpusPlusOne) {
  EXPECT_EQ(cmd("qfThreadInfo"), "m1,2");
  EXPECT_EQ(cmd("qsThreadInfo"), "l");
  EXPECT_EQ(cmd("qC"), "QC1");
  EXPECT_EQ(cmd("qAttached"), "1");
  EXPECT_EQ(cmd("T1"), "OK");
  EXPECT_EQ(cmd("T2"), "OK");
  EXPECT_EQ(cmd("T3"), "E01");
  EXPECT_EQ(cmd("T0"), "E01");
  EXPECT_EQ(cmd("Tzz"), "E01");
  EXPECT_EQ(cmd("qThreadExtraInfo,2"), to_hex(std::string_view("vCPU 1")));
  EXPECT_EQ(cmd("qThreadExtraInfo,7"), "E01");
  EXPECT_EQ(cmd("Hg2"), "OK");
  EXPECT_EQ(cmd("Hg0"), "OK");
  EXPECT_EQ(cmd("Hc-1"), "OK");
  EXPECT_EQ(cmd("Hg3"), "E01");
  EXPECT_EQ(cmd("Hgffffffffffff"), "E01");
}

// `monitor info version` is how the kernel's gdb scripts tell a stub whose
// threads are CPUs in order; other commands get a line, bad hex an error.
TEST_F(GdbSession, MonitorCommandsAnswerInHex) {
  const std::string version = cmd("qRcmd," + to_hex(std::string_view("info version")));
  EXPECT_EQ(version, to_hex(std::string_view("vmrun " VMRUN_VERSION "\n")));
  EXPECT_NE(cmd("qRcmd," + to_hex(std::string_view("help"))).find(to_hex(std::string_view("info version"))),
            std::string::npos);
  EXPECT_EQ(cmd("qRcmd," + to_hex(std::string_view("frobnicate"))),
            to_hex(std::string_view("unknown monitor command (monitor help lists them)\n")));
  EXPECT_EQ(cmd("qRcmd,6"), "E16");
  EXPECT_EQ(cmd("qRcmd,zz"), "E16");
}

TEST_F(GdbSession, RegistersOfTheSelectedThread) {
  target.regs[0].rax = 0x1234;
  target.regs[1].rax = 0x5678;
  EXPECT_EQ(cmd("g"), encode_registers(target.regs[0]));
  EXPECT_EQ(cmd("Hg2"), "OK");
  EXPECT_EQ(cmd("g"), encode_registers(target.regs[1]));
  EXPECT_EQ(cmd("p10"), "0011000000000000");  // rip 0x1100
  EXPECT_EQ(cmd("p3a"), "0000000000000000");  // gs_base, the last
  EXPECT_EQ(cmd("p3b"), "E16");
  EXPECT_EQ(cmd("pzz"), "E16");
  EXPECT_EQ(cmd("P10=0020000000000000"), "OK");
  EXPECT_EQ(target.regs[1].rip, 0x2000u);
  EXPECT_EQ(cmd("P10=00200000"), "E16");  // wrong size
  EXPECT_EQ(cmd("P10"), "E16");
  X86Regs r = target.regs[1];
  r.r15 = 0xdeadbeef;
  r.xmm[3][1] = 0x42;
  EXPECT_EQ(cmd("G" + encode_registers(r)), "OK");
  EXPECT_EQ(target.regs[1].r15, 0xdeadbeefu);
  EXPECT_EQ(target.regs[1].xmm[3][1], 0x42);
  EXPECT_EQ(cmd("G00"), "E16");
  EXPECT_EQ(target.regs[0].r15, 0u);
}

TEST_F(GdbSession, MemoryReadsAndWrites) {
  EXPECT_EQ(cmd("m1000,4"), mem_hex(0x1000, 4));
  EXPECT_EQ(cmd("mfffe,4"), mem_hex(0xfffe, 2));  // short: the rest unmapped
  EXPECT_EQ(cmd("m10000,4"), "E0e");
  EXPECT_EQ(cmd("mffffffffffffffff,10"), "E0e");
  EXPECT_EQ(cmd("m1000,0"), "E16");
  EXPECT_EQ(cmd("m1000"), "E16");
  EXPECT_EQ(cmd("m1000,4:00"), "E16");
  // A huge length is cut to what one reply holds.
  std::string big = cmd("m0,ffffffff");
  EXPECT_GT(big.size(), 60000u);
  EXPECT_LE(big.size(), kMaxPacketSize);
  EXPECT_EQ(big, mem_hex(0, big.size() / 2));

  EXPECT_EQ(cmd("M1000,2:abCD"), "OK");
  EXPECT_EQ(mem_hex(0x1000, 2), "abcd");
  EXPECT_EQ(cmd("M1000,2:abc"), "E16");
  EXPECT_EQ(cmd("M1000,2:abcx"), "E16");
  EXPECT_EQ(cmd("Mffff,2:abcd"), "E0e");  // only half fits

  std::string bin = std::string("#$}*\x03\0", 6);
  EXPECT_EQ(cmd("X2000,6:" + bin), "OK");
  EXPECT_EQ(mem_hex(0x2000, 6), "23247d2a0300");
  EXPECT_EQ(cmd("X2000,0:"), "OK");
  EXPECT_EQ(cmd("X2000,5:" + bin), "E16");
  EXPECT_EQ(cmd("X2000,6"), "E16");
  target.fail_writes = true;
  EXPECT_EQ(cmd("X2000,1:a"), "E0e");
  EXPECT_EQ(cmd("M2000,1:aa"), "E0e");
}

TEST_F(GdbSession, BreakpointsAreInsertedOnceAndRemoved) {
  EXPECT_EQ(cmd("Z0,2000,1"), "OK");
  EXPECT_EQ(cmd("Z0,2000,1"), "OK");
  EXPECT_EQ(target.inserts, 1);
  EXPECT_EQ(target.breakpoints.count({Kind::kSoftware, 0x2000, 1}), 1u);
  EXPECT_EQ(cmd("Z1,3000,1;X1,0"), "OK");  // a condition list is ignored
  EXPECT_EQ(cmd("Z2,4000,8"), "OK");
  EXPECT_EQ(cmd("Z4,4008,4"), "OK");
  EXPECT_EQ(cmd("Z3,4000,8"), "");     // the target cannot: unsupported
  EXPECT_EQ(cmd("Z2,4000,0"), "E01");  // the target refuses
  EXPECT_EQ(cmd("Z0,zz,1"), "E16");
  EXPECT_EQ(cmd("Z0"), "");
  EXPECT_EQ(target.breakpoints.size(), 4u);
  EXPECT_EQ(cmd("z0,2000,1"), "OK");
  EXPECT_EQ(cmd("z0,2000,1"), "OK");  // already gone
  EXPECT_EQ(cmd("z2,4000,8"), "OK");
  EXPECT_EQ(target.breakpoints.size(), 2u);
}

TEST_F(GdbSession, ContinueStopsAtABreakpointWithTheReason) {
  EXPECT_EQ(cmd("Z0,2000,1"), "OK");
  EXPECT_EQ(resume("c"), "T05thread:1;swbreak:;");
  EXPECT_EQ(target.regs[0].rip, 0x2000u);
  EXPECT_EQ(target.last_step, std::nullopt);
  EXPECT_EQ(cmd("z0,2000,1"), "OK");
  EXPECT_EQ(cmd("Z1,3000,1"), "OK");
  EXPECT_EQ(resume("vCont;c"), "T05thread:1;hwbreak:;");
  EXPECT_EQ(target.regs[0].rip, 0x3000u);
}

TEST_F(GdbSession, WatchpointsAndOtherStops) {
  target.next_stop =
      StopEvent{1, Reason::kWatchpoint, Kind::kWriteWatch, 0x4000};
  EXPECT_EQ(resume("c"), "T05thread:2;watch:4000;");
  EXPECT_EQ(cmd("qC"), "QC2");
  EXPECT_EQ(cmd("g"), encode_registers(target.regs[1]));  // the stopped one
  target.next_stop = StopEvent{0, Reason::kWatchpoint, Kind::kReadWatch, 0x10};
  EXPECT_EQ(resume("c"), "T05thread:1;rwatch:10;");
  target.next_stop =
      StopEvent{0, Reason::kWatchpoint, Kind::kAccessWatch, 0x18};
  EXPECT_EQ(resume("c"), "T05thread:1;awatch:18;");
  target.next_stop = StopEvent{9, Reason::kSwBreakpoint};  // no such vCPU
  EXPECT_EQ(resume("c"), "T05thread:1;swbreak:;");
}

TEST_F(GdbSession, StepsOneThread) {
  EXPECT_EQ(resume("s"), "T05thread:1;");
  EXPECT_EQ(target.last_step, 0);
  EXPECT_EQ(target.regs[0].rip, 0x1001u);
  EXPECT_EQ(resume("vCont;s:2;c"), "T05thread:2;");
  EXPECT_EQ(target.last_step, 1);
  EXPECT_EQ(target.regs[1].rip, 0x1101u);
  EXPECT_EQ(resume("vCont;s:1"), "T05thread:1;");
  EXPECT_EQ(target.last_step, 0);
  EXPECT_EQ(resume("vCont;S05:2;C05"), "T05thread:2;");
  EXPECT_EQ(cmd("Hc1"), "OK");
  EXPECT_EQ(resume("S05;3000"), "T05thread:1;");  // step at a new address
  EXPECT_EQ(target.regs[0].rip, 0x3001u);
  EXPECT_EQ(resume("s2000"), "T05thread:1;");
  EXPECT_EQ(target.regs[0].rip, 0x2001u);
  for (const char* bad : {"vCont;s:3", "vCont;t", "vCont;r1,2", "vCont;",
                          "vCont;;c", "vCont;c:zz", "sxyz"})
    EXPECT_EQ(cmd(bad), "E16") << bad;
  EXPECT_EQ(cmd("vContx"), "");
  EXPECT_EQ(target.resumes, 6);
}

TEST_F(GdbSession, CtrlCInterruptsOnceAndPacketsWaitForTheStop) {
  EXPECT_TRUE(send_raw(encode_packet("c")).empty());
  EXPECT_EQ(target.resumes, 1);
  EXPECT_EQ(target.pending, std::nullopt);  // running: nothing to hit
  // Packets sent meanwhile are acknowledged and held.
  EXPECT_TRUE(send_raw(encode_packet("qC")).empty());
  EXPECT_EQ(send_raw("\x03\x03").size(), 0u);
  EXPECT_EQ(target.interrupts, 2);  // the start's and one for both ^C
  session.target_stopped();
  EXPECT_EQ(replies(), (std::vector<std::string>{"T02thread:1;", "QC1"}));
  EXPECT_FALSE(session.waiting_for_stop());
  // ^C while stopped does nothing.
  send_raw("\x03");
  EXPECT_EQ(target.interrupts, 2);
  // A spurious wakeup changes nothing.
  session.target_stopped();
  EXPECT_TRUE(replies().empty());
}

TEST_F(GdbSession, OnlyAFewPacketsAreHeldWhileRunning) {
  EXPECT_TRUE(send_raw(encode_packet("c")).empty());
  std::string many;
  for (int i = 0; i < 100; ++i) many += encode_packet("qC");
  send_raw(many);
  send_raw("\x03");
  session.target_stopped();
  EXPECT_EQ(replies().size(), 1u + 16u);
}

TEST_F(GdbSession, GuestExitIsReportedAndThenNothingRuns) {
  target.next_stop = StopEvent{0, Reason::kExited, Kind::kWriteWatch, 0, 0x103};
  EXPECT_EQ(resume("c"), "W03");
  EXPECT_EQ(cmd("?"), "W03");
  EXPECT_EQ(cmd("g"), "E01");
  EXPECT_EQ(cmd("m1000,1"), "E01");
  EXPECT_EQ(cmd("Z0,1000,1"), "E01");
  EXPECT_EQ(cmd("c"), "W03");
  EXPECT_EQ(cmd("vCont;s:1"), "W03");
  EXPECT_EQ(cmd("qfThreadInfo"), "l");
  EXPECT_EQ(target.resumes, 1);
  session.finish(Session::End::kDisconnected);
  EXPECT_EQ(target.detaches, 1);
}

TEST_F(GdbSession, TargetDescriptionIsReadInPieces) {
  const std::string& xml = target_xml();
  std::string got;
  for (size_t off = 0;; off += 0x100) {
    std::string r =
        cmd("qXfer:features:read:target.xml:" + hex_u64(off) + ",100");
    ASSERT_FALSE(r.empty());
    got += r.substr(1);
    if (r[0] == 'l') break;
    ASSERT_EQ(r[0], 'm');
    ASSERT_LT(off, 0x10000u);
  }
  EXPECT_EQ(got, xml);
  EXPECT_EQ(cmd("qXfer:features:read:target.xml:ffffff,100"), "l");
  EXPECT_EQ(cmd("qXfer:features:read:other.xml:0,100"), "E00");
  EXPECT_EQ(cmd("qXfer:features:read:target.xml:0"), "E16");
  EXPECT_EQ(cmd("qXfer:features:read:target.xml"), "E16");
  EXPECT_EQ(cmd("qXfer:features:read:target.xml:0,ffffffffffffffff")[0], 'l');
}

TEST_F(GdbSession, DetachRemovesBreakpointsAndLetsTheGuestRun) {
  EXPECT_EQ(cmd("Z0,2000,1"), "OK");
  EXPECT_EQ(cmd("Z2,4000,4"), "OK");
  EXPECT_EQ(cmd("D"), "OK");
  EXPECT_EQ(session.ended(), Session::End::kDetached);
  EXPECT_TRUE(target.breakpoints.empty());
  EXPECT_TRUE(send_raw(encode_packet("?")).empty());  // nothing after D
  session.finish(Session::End::kDetached);
  session.finish(Session::End::kDetached);
  EXPECT_EQ(target.detaches, 1);
  EXPECT_EQ(target.kills, 0);
}

TEST_F(GdbSession, KillAsksTheOwnerToStopTheVm) {
  EXPECT_TRUE(send_raw(encode_packet("k")).empty());
  EXPECT_EQ(session.ended(), Session::End::kKilled);
  session.finish(Session::End::kKilled);
  EXPECT_EQ(target.kills, 1);
  EXPECT_EQ(target.detaches, 0);
}

TEST_F(GdbSession, VKillRepliesThenKills) {
  EXPECT_EQ(cmd("vKill;1"), "OK");
  EXPECT_EQ(session.ended(), Session::End::kKilled);
}

TEST_F(GdbSession, DisconnectWhileStoppedRemovesBreakpointsFirst) {
  EXPECT_EQ(cmd("Z1,3000,1"), "OK");
  session.finish(Session::End::kDisconnected);
  EXPECT_TRUE(target.breakpoints.empty());
  EXPECT_EQ(target.detaches, 1);
}

TEST_F(GdbSession, DisconnectWhileRunningLeavesItToDetach) {
  EXPECT_EQ(cmd("Z1,3000,1"), "OK");
  target.regs[0].rip = 0x4000;  // past it: runs on
  EXPECT_TRUE(send_raw(encode_packet("c")).empty());
  session.finish(Session::End::kShutdown);
  EXPECT_EQ(target.detaches, 1);
  EXPECT_TRUE(target.breakpoints.empty());  // the fake's detach cleared them
}

TEST(GdbSessionStart, AGuestThatAlreadyExitedReportsW) {
  FakeGdbTarget target(1);
  target.running = false;
  Session s(target);
  s.start();
  EXPECT_TRUE(s.waiting_for_stop());
  target.pending = StopEvent{0, Reason::kExited, Kind::kWriteWatch, 0, 0};
  s.target_stopped();
  std::string p = encode_packet("?");
  s.input({reinterpret_cast<const uint8_t*>(p.data()), p.size()});
  EXPECT_EQ(s.take_output(), "+" + encode_packet("W00"));
}

}  // namespace
}  // namespace vmrun::gdb
