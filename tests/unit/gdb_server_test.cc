// The gdb stub on real sockets: Session::run's loop (Ctrl-C while running,
// disconnects, the shutdown fd, a client that never reads), the --gdb
// address syntax, and the TCP server (port 0, one client after another,
// stop() with a client connected, 'k').
#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <chrono>
#include <optional>
#include <thread>

#include "tests/support/fake_gdb_target.h"
#include "tests/support/gdb_client.h"
#include "vmm/gdb/packet.h"
#include "vmm/gdb/server.h"
#include "vmm/gdb/session.h"

namespace vmrun::gdb {
namespace {

using test_support::FakeGdbTarget;
using test_support::GdbWire;
using Clock = std::chrono::steady_clock;

// Session::run on one end of a socketpair, on its own thread.
class GdbSessionRun : public ::testing::Test {
 protected:
  void SetUp() override {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    client.emplace(sv[0]);
    stub.reset(sv[1]);
    shutdown.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    thread = std::thread(
        [this] { end = Session::run(target, stub.get(), shutdown.get()); });
  }
  void TearDown() override {
    signal_shutdown();
    if (thread.joinable()) thread.join();
  }
  void signal_shutdown() {
    uint64_t one = 1;
    ASSERT_EQ(::write(shutdown.get(), &one, sizeof one), 8);
  }

  FakeGdbTarget target;
  std::optional<GdbWire> client;
  UniqueFd stub, shutdown;
  std::thread thread;
  std::optional<Session::End> end;
};

TEST_F(GdbSessionRun, CtrlCStopsARunningGuestAndDisconnectEndsTheSession) {
  client->send("+" + encode_packet("?"));
  ASSERT_TRUE(client->wait_for(encode_packet("T05thread:1;"))) << client->got();
  client->send("+" + encode_packet("c"));
  ASSERT_TRUE(client->wait_for("+"));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  client->send("\x03");
  ASSERT_TRUE(client->wait_for(encode_packet("T02thread:1;"))) << client->got();
  client->close();
  thread.join();
  EXPECT_EQ(end, Session::End::kDisconnected);
  EXPECT_EQ(target.detaches, 1);
  EXPECT_EQ(target.interrupts, 2);
}

TEST_F(GdbSessionRun, ShutdownEndsASessionWhileTheGuestRuns) {
  client->send("+" + encode_packet("vCont;c"));
  ASSERT_TRUE(client->wait_for("+"));
  auto t0 = Clock::now();
  signal_shutdown();
  thread.join();
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(1));
  EXPECT_EQ(end, Session::End::kShutdown);
  EXPECT_EQ(target.detaches, 1);
}

TEST_F(GdbSessionRun, DetachRepliesBeforeTheSessionEnds) {
  client->send("+" + encode_packet("Z0,2000,1") + encode_packet("D"));
  // The session ends by itself; both replies went out before (the acks may
  // come first: the packets can arrive before the first stop).
  thread.join();
  stub.reset();
  EXPECT_TRUE(client->wait_closed());
  const std::string& got = client->got();
  size_t first = got.find(encode_packet("OK"));
  ASSERT_NE(first, std::string::npos) << got;
  EXPECT_NE(got.find(encode_packet("OK"), first + 1), std::string::npos) << got;
  EXPECT_EQ(end, Session::End::kDetached);
  EXPECT_TRUE(target.breakpoints.empty());
  EXPECT_EQ(target.detaches, 1);
}

TEST_F(GdbSessionRun, AClientThatNeverReadsCannotBlockTheStub) {
  // Each 5-byte "g" asks for a 1.1 KB reply; the stub must stop reading
  // rather than queue without bound, and still end promptly.
  std::string flood;
  for (int i = 0; i < 1000; ++i) flood += "$g#67";
  size_t sent = 0;
  for (auto deadline = Clock::now() + std::chrono::seconds(1);
       Clock::now() < deadline;) {
    ssize_t n = ::send(client->fd(), flood.data(), flood.size(),
                       MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  EXPECT_GT(sent, 10000u);
  auto t0 = Clock::now();
  signal_shutdown();
  thread.join();
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(1));
  EXPECT_EQ(end, Session::End::kShutdown);
}

TEST(GdbListenAddress, ParsesTheThreeForms) {
  auto a = parse_listen_address("1234");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 1234);
  a = parse_listen_address("tcp::4321");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 4321);
  a = parse_listen_address("tcp:0.0.0.0:65535");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "0.0.0.0");
  EXPECT_EQ(a->port, 65535);
  a = parse_listen_address("tcp:localhost:0");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "localhost");
  EXPECT_EQ(a->port, 0);
  a = parse_listen_address("tcp:[::1]:99");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "::1");
  EXPECT_EQ(a->port, 99);
}

TEST(GdbListenAddress, BadValuesGiveOneLine) {
  for (const char* bad :
       {"", "tcp:", "tcp::", "abc", "tcp::abc", "tcp::65536", "99999999", "-1",
        "udp::1234", "tcp:host", "1234:", "tcp:[::1]1234", "tcp:[]:1",
        "tcp:a b:1", ":1234", "tcp::12 "}) {
    auto a = parse_listen_address(bad);
    ASSERT_FALSE(a.ok()) << bad;
    const std::string& m = a.error().message();
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    EXPECT_EQ(m.rfind("--gdb: ", 0), 0u) << m;
    EXPECT_NE(m.find(bad), std::string::npos) << m;
  }
}

TEST(GdbServer, ServesClientsOneAfterAnotherAndStopsWithOneConnected) {
  FakeGdbTarget target;
  auto server = Server::start({"127.0.0.1", 0}, target);
  ASSERT_TRUE(server.ok()) << server.error().message();
  uint16_t port = server.value()->port();
  ASSERT_NE(port, 0);
  {
    auto c = GdbWire::connect_tcp(port);
    ASSERT_TRUE(c.valid());
    c.send("+" + encode_packet("?"));
    ASSERT_TRUE(c.wait_for(encode_packet("T05thread:1;"))) << c.got();
  }
  auto c = GdbWire::connect_tcp(port);
  ASSERT_TRUE(c.valid());
  c.send("+" + encode_packet("qC"));
  ASSERT_TRUE(c.wait_for(encode_packet("QC1"))) << c.got();
  auto t0 = Clock::now();
  server.value()->stop();
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(1));
  EXPECT_TRUE(c.wait_closed());
  EXPECT_EQ(target.detaches, 2);
  EXPECT_EQ(target.kills, 0);
}

TEST(GdbServer, KillEndsTheServer) {
  FakeGdbTarget target;
  auto server = Server::start({"127.0.0.1", 0}, target);
  ASSERT_TRUE(server.ok()) << server.error().message();
  auto c = GdbWire::connect_tcp(server.value()->port());
  c.send("+" + encode_packet("k"));
  EXPECT_TRUE(c.wait_closed());
  server.value()->stop();
  EXPECT_EQ(target.kills, 1);
  EXPECT_EQ(target.detaches, 0);
}

TEST(GdbServer, ListenErrorsAreOneLine) {
  FakeGdbTarget target;
  auto first = Server::start({"127.0.0.1", 0}, target);
  ASSERT_TRUE(first.ok());
  auto busy = Server::start({"127.0.0.1", first.value()->port()}, target);
  ASSERT_FALSE(busy.ok());
  EXPECT_NE(busy.error().message().find("Address already in use"),
            std::string::npos)
      << busy.error().message();
  auto nohost = Server::start({"no-such-host.invalid", 0}, target);
  ASSERT_FALSE(nohost.ok());
  EXPECT_NE(nohost.error().message().find("no-such-host.invalid"),
            std::string::npos);
}

}  // namespace
}  // namespace vmrun::gdb
