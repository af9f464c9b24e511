// Networking with real guests, only ever inside a network namespace each
// test creates (with the tap in it): never the host's interfaces, never an
// address outside the namespace. The namespace side uses nettool and
// busybox; the guest gets nettool through a read-only 9p share.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/support/integration.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace {

namespace fs = std::filesystem;
using namespace vmrun::test_support;

class NetTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (geteuid() != 0 || run_program({"/bin/sh", "-c", "command -v ip"}, "", 10).exit_code != 0) {
      GTEST_SKIP() << "needs root and iproute2 to make a network namespace";
    }
    if (!fs::exists("/dev/net/tun")) GTEST_SKIP() << "this host has no tun driver (/dev/net/tun)";
    ns_ = "vmrunt" + std::to_string(getpid()) + "x" + std::to_string(counter_++);
    fs::create_directories(tools_);
    fs::copy_file(VMRUN_NETTOOL, tools_ + "/nettool");
    // The namespace's end of the link: tap vt0 with 10.77.0.1/24.
    RunResult r = sh_host("ip netns add " + ns_ + " && " + in_ns("ip link set lo up") + " && " +
                          in_ns("ip tuntap add vt0 mode tap") + " && " +
                          in_ns("ip addr add 10.77.0.1/24 dev vt0") + " && " +
                          in_ns("ip link set vt0 up"));
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    made_ = true;
  }
  void TearDown() override {
    if (made_) sh_host(in_ns("ip link del vt0") + "; ip netns del " + ns_);
  }

  std::string in_ns(const std::string& cmd) const { return "ip netns exec " + ns_ + " " + cmd; }
  static RunResult sh_host(const std::string& script) {
    // SIGUSR2 at the limit: a hung vmrun in the script dumps its state.
    RunResult r = run_program({"/bin/sh", "-c", script}, "", kHangLimit, SIGUSR2);
    EXPECT_FALSE(r.timed_out) << "hung: " << script;
    return r;
  }
  // Runs `script` in the namespace with $VMRUN, $NETTOOL, $T (a temp dir)
  // and $NET (the -n option for the guest: tap vt0, 10.77.0.2/24).
  RunResult in_namespace(const std::string& script) const {
    const std::string net = std::string("mode=tap,tapif=vt0,ip=10.77.0.2/24") +
                            (GetParam() ? ",vhost=1" : "");
    return sh_host("ip netns exec " + ns_ + " env VMRUN=" VMRUN_BINARY " NETTOOL=" +
                   tools_ + "/nettool T=" + tmp_.path() + " NET=" + net +
                   " TOOLS=" + tools_ + ",tools,ro sh -c '" + script + "'");
  }

  static inline int counter_ = 0;
  TempDir tmp_;
  std::string tools_ = tmp_.path() + "/tools";
  std::string ns_;
  bool made_ = false;
};

TEST_P(NetTest, GuestAndNamespacePingEachOther) {
  // The guest pings out, then waits (nettool recv) until the namespace has
  // pinged it and released it.
  RunResult r = in_namespace(
      "$VMRUN -n $NET --9p $TOOLS -- sh -c \"ping -c 2 10.77.0.1 >/dev/null && "
      "echo guest-ping-ok; /mnt/tools/nettool recv 7000 /dev/null; echo guest-done\" > $T/out 2>$T/err &"
      "i=0; while [ $i -lt 180 ]; do busybox ping -c 1 -W 1 10.77.0.2 >/dev/null 2>&1 && "
      "{ echo host-ping-ok; break; }; i=$((i+1)); done;"
      "echo bye > $T/bye; $NETTOOL send 10.77.0.2 7000 $T/bye; wait $!; echo vmrun=$?; cat $T/out $T/err");
  EXPECT_TRUE(contains(r.out, "host-ping-ok")) << describe(r);
  EXPECT_TRUE(contains(r.out, "guest-ping-ok")) << describe(r);
  EXPECT_TRUE(contains(r.out, "guest-done")) << describe(r);
  EXPECT_TRUE(contains(r.out, "vmrun=0")) << describe(r);
  if (GetParam()) {
    EXPECT_FALSE(contains(r.out, "vhost")) << "vhost was not used: " << r.out;
  }
}

TEST_P(NetTest, HundredMebibytesEachWayKeepTheirChecksums) {
  RunResult r = in_namespace(
      "head -c 104857600 /dev/urandom > $T/down; $NETTOOL recv 9002 $T/up & R=$!;"
      "$VMRUN -m 512 -n $NET --9p $TOOLS -- sh -c \"/mnt/tools/nettool recv 9001 /proc/self/fd/1 "
      "| sha256sum; head -c 104857600 /dev/urandom > /tmp/up && sha256sum /tmp/up && "
      "/mnt/tools/nettool send 10.77.0.1 9002 /tmp/up\" > $T/guest &"
      "G=$!; $NETTOOL send 10.77.0.2 9001 $T/down; wait $G; echo vmrun=$?; wait $R;"
      "echo down=$(sha256sum < $T/down); echo up=$(sha256sum < $T/up); cat $T/guest");
  ASSERT_TRUE(contains(r.out, "vmrun=0")) << describe(r);
  auto field = [&r](const std::string& key) {
    size_t at = r.out.find(key + "=");
    return at == std::string::npos ? std::string("?") : r.out.substr(at + key.size() + 1, 64);
  };
  // The guest printed the checksum of what it received, then of what it sent.
  EXPECT_TRUE(contains(r.out, field("down") + "  -")) << describe(r);
  EXPECT_TRUE(contains(r.out, field("up") + "  /tmp/up")) << describe(r);
}

// SCPI over TCP on port 5025: the usual way to talk to a LAN instrument.
TEST_P(NetTest, ScpiIdnQueryFromTheGuest) {
  RunResult r = in_namespace(
      "$NETTOOL scpi-server 5025 2 & S=$!;"
      "$VMRUN -n $NET --9p $TOOLS -- sh -c \"/mnt/tools/nettool scpi 10.77.0.1 5025 \\*IDN\\? && "
      "/mnt/tools/nettool scpi 10.77.0.1 5025 BOGUS\"; echo vmrun=$?; wait $S");
  EXPECT_TRUE(contains(r.out, "vmrun-lab,Fake Instrument,SN0001,1.0\n-113,\"Undefined header\"\n"
                              "vmrun=0"))
      << describe(r);
}

TEST_P(NetTest, MissingTapIsAClearError) {
  RunResult r = in_namespace("$VMRUN -n mode=tap,tapif=nosuchtap0 -- true; echo vmrun=$?");
  EXPECT_TRUE(contains(r.out, "vmrun=125")) << describe(r);
  EXPECT_TRUE(contains(r.err, "vmrun: -n tapif=nosuchtap0: no such network interface"))
      << describe(r);
}

TEST_P(NetTest, TapInUseIsAClearError) {
  RunResult r = in_namespace(
      "$VMRUN -n $NET -- sleep 6 > /dev/null & H=$!; sleep 3;"
      "$VMRUN -n $NET -- true; echo second=$?; wait $H; echo first=$?");
  EXPECT_TRUE(contains(r.out, "second=125")) << describe(r);
  EXPECT_TRUE(contains(r.err, "device busy")) << describe(r);
  EXPECT_TRUE(contains(r.out, "first=0")) << describe(r);
}

// Without tapif vmrun makes a tap for the run (here with the namespace's
// address on it) and it is gone afterwards.
TEST_P(NetTest, TapCreatedForTheRunIsRemovedAfterwards) {
  RunResult r = in_namespace(
      std::string("$VMRUN -n mode=tap,host_ip=10.78.0.1/24,ip=10.78.0.2/24") +
      (GetParam() ? ",vhost=1" : "") +
      " -- ping -c 1 10.78.0.1 >/dev/null; echo vmrun=$?; ip -o link show | grep -c vmrun || true");
  EXPECT_TRUE(contains(r.out, "vmrun=0\n0\n")) << describe(r);
}

INSTANTIATE_TEST_SUITE_P(Paths, NetTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "vhost" : "userspace"; });

}  // namespace
