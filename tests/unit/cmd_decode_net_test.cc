// Unit tests for the guest init's vmrun.net decoder (vmrun_net_parse in
// guest/init/cmd_decode.c): MAC[,ADDR/PREFIX[,GATEWAY]] and MAC,dhcp, their
// bad MACs, addresses, prefixes, gateways and fields, against
// docs/guest-protocol.md.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "cmd_decode.h"
#include "tests/unit/cmd_decode_helpers.h"

namespace {

// vmrun.net=MAC[,ADDR/PREFIX[,GATEWAY]] or MAC,dhcp, as one readable string:
// "MAC link", "MAC dhcp", "MAC ADDR/PREFIX[ via GW]", or the failure.
struct Net {
  vmrun_net_result result;
  std::string text;
};

std::string Dotted(const unsigned char a[4]) {
  return std::to_string(a[0]) + "." + std::to_string(a[1]) + "." + std::to_string(a[2]) + "." +
         std::to_string(a[3]);
}

Net ParseNet(const std::string& value) {
  vmrun_net n;
  memset(&n, 0x5a, sizeof n);  // must be zeroed whatever the result
  Net out{vmrun_net_parse(value.c_str(), &n), ""};
  if (out.result != VMRUN_NET_OK) {
    vmrun_net zero;
    memset(&zero, 0, sizeof zero);
    EXPECT_EQ(memcmp(&n, &zero, sizeof n), 0) << value;
    out.text = vmrun_net_result_str(out.result);
    return out;
  }
  out.text = n.mac;
  if (n.mode == VMRUN_NET_LINK_ONLY) {
    out.text += " link";
  } else if (n.mode == VMRUN_NET_DHCP) {
    out.text += " dhcp";
  } else {
    out.text += " " + Dotted(n.addr) + "/" + std::to_string(n.prefix);
    if (n.has_gateway) out.text += " via " + Dotted(n.gateway);
  }
  if (n.mode != VMRUN_NET_STATIC) {
    EXPECT_EQ(n.prefix, 0) << value;
  }
  if (!n.has_gateway) {
    EXPECT_EQ(Dotted(n.gateway), "0.0.0.0") << value;
  }
  return out;
}

constexpr char kMac[] = "52:54:00:12:34:56";

TEST(NetDecode, ProtocolForms) {
  std::string mac = kMac;
  EXPECT_EQ(ParseNet(mac).text, mac + " link");
  EXPECT_EQ(ParseNet(mac + ",10.0.2.15/24").text, mac + " 10.0.2.15/24");
  EXPECT_EQ(ParseNet(mac + ",10.0.2.15/24,10.0.2.2").text, mac + " 10.0.2.15/24 via 10.0.2.2");
  EXPECT_EQ(ParseNet(mac + ",dhcp").text, mac + " dhcp");
  EXPECT_EQ(ParseNet(mac + ",0.0.0.0/0").text, mac + " 0.0.0.0/0");
  EXPECT_EQ(ParseNet(mac + ",255.255.255.255/32,255.255.255.255").text,
            mac + " 255.255.255.255/32 via 255.255.255.255");
  EXPECT_EQ(ParseNet(mac + ",192.168.100.200/9").text, mac + " 192.168.100.200/9");
}

TEST(NetDecode, MacCaseAndEncoding) {
  EXPECT_EQ(ParseNet("AA:bB:0c:D0:ef:FF").text, "aa:bb:0c:d0:ef:ff link");  // as sysfs shows it
  // Decoded like vmrun.9p, so an encoded ':' or '.' is fine too.
  EXPECT_EQ(ParseNet("52%3A54:00:12:34:56,10.0.0.1%2F8").text, std::string(kMac) + " 10.0.0.1/8");
  EXPECT_EQ(ParseNet("52:54:00:12:34:56,dhc%70").text, std::string(kMac) + " dhcp");
}

TEST(NetDecode, BadMac) {
  for (const char* mac : {"52:54:00:12:34", "52:54:00:12:34:56:78", "52:54:00:12:34:5",
                          "52:54:00:12:34:567", "5254.0012.3456", "52-54-00-12-34-56",
                          "525400123456", "52:54:00:12:34:5g", "52:54:00:12:34::6",
                          " 52:54:00:12:34:56", "52:54:00:12:34:56 ", "dhcp", "lo"}) {
    EXPECT_EQ(ParseNet(std::string(mac) + ",10.0.0.1/8").result, VMRUN_NET_BAD_MAC) << mac;
  }
}

TEST(NetDecode, BadAddress) {
  for (const char* addr : {"10.0.0.1", "10.0.0/24", "10.0.0.0.1/24", "10.0.0.256/24",
                           "010.0.0.1/24", "10.00.0.1/24", "1000.0.0.1/8", "10.0.0.-1/8",
                           "10..0.1/8", ".10.0.0.1/8", "a.b.c.d/8", "10.0.0.1 /8", "/24",
                           "DHCP", "dhcp6", "0x0a.0.0.1/8", "10.0.0.1\\24"}) {
    EXPECT_EQ(ParseNet(std::string(kMac) + "," + addr).result, VMRUN_NET_BAD_ADDR) << addr;
  }
}

TEST(NetDecode, BadPrefix) {
  for (const char* prefix : {"33", "99", "100", "320", "", "-1", "024", "00", "24x", "2 4",
                             "24/", "1.0", "+8"}) {
    EXPECT_EQ(ParseNet(std::string(kMac) + ",10.0.0.1/" + prefix).result, VMRUN_NET_BAD_PREFIX)
        << prefix;
  }
  EXPECT_EQ(ParseNet(std::string(kMac) + ",10.0.0.1/0").result, VMRUN_NET_OK);
  EXPECT_EQ(ParseNet(std::string(kMac) + ",10.0.0.1/32").result, VMRUN_NET_OK);
}

TEST(NetDecode, BadGateway) {
  for (const char* gw : {"junk", "10.0.0.256", "10.0.0", "10.0.0.1/24", "10.0.0.01", "dhcp",
                         "10.0.0.1 "}) {
    EXPECT_EQ(ParseNet(std::string(kMac) + ",10.0.0.2/24," + gw).result, VMRUN_NET_BAD_GATEWAY)
        << gw;
  }
}

TEST(NetDecode, Fields) {
  std::string mac = kMac;
  for (const std::string& value :
       {std::string(""), mac + ",", mac + ",,10.0.0.1", mac + ",10.0.0.2/24,",
        mac + ",10.0.0.2/24,10.0.0.1,", mac + ",10.0.0.2/24,10.0.0.1,x", mac + ",dhcp,10.0.0.1",
        mac + ",dhcp,", "," + mac}) {
    EXPECT_EQ(ParseNet(value).result, VMRUN_NET_BAD_FIELDS) << value;
  }
  EXPECT_EQ(ParseNet(mac + ",dhcp%2C").result, VMRUN_NET_BAD_ADDR);  // an encoded ',' is data
  std::string many = mac;
  for (int i = 0; i < VMRUN_CMD_MAX_ARGS + 1; ++i) many += ",x";
  EXPECT_EQ(ParseNet(many).result, VMRUN_NET_BAD_FIELDS);
}

TEST(NetDecode, EscapesAndLength) {
  EXPECT_EQ(ParseNet(std::string(kMac) + ",10.0.0.1/8%2").result, VMRUN_NET_BAD_ESCAPE);
  EXPECT_EQ(ParseNet("%ZZ").result, VMRUN_NET_BAD_ESCAPE);
  EXPECT_EQ(ParseNet(std::string(kMac) + "%00").result, VMRUN_NET_NUL_BYTE);
  EXPECT_EQ(ParseNet(std::string(kMac) + "," + std::string(VMRUN_CMD_MAX_DATA, '1')).result,
            VMRUN_NET_TOO_LONG);
}

TEST(NetDecode, ResultStrings) {
  for (int r = VMRUN_NET_OK; r <= VMRUN_NET_BAD_GATEWAY; ++r) {
    const char* s = vmrun_net_result_str(static_cast<vmrun_net_result>(r));
    ASSERT_NE(s, nullptr);
    EXPECT_GT(std::string(s).size(), 0u);
  }
  EXPECT_STREQ(vmrun_net_result_str(VMRUN_NET_BAD_PREFIX), "PREFIX must be 0-32");
}

// As vmrun appends them: one token per interface, in order, among others.
TEST(NetDecode, NextToOtherTokens) {
  std::string line = "console=ttyS0 vmrun.net=52:54:00:12:34:56,10.0.2.15/24,10.0.2.2 "
                     "vmrun.9p=src,/mnt/src vmrun.net=52:54:00:12:34:57,dhcp "
                     "vmrun.cmd=ip,addr vmrun.net=52:54:00:12:34:58\n";
  const char* cursor = line.c_str();
  char value[256];
  std::vector<std::string> nets;
  while (cmdline_next(&cursor, "vmrun.net", value, sizeof value) == 1) {
    nets.push_back(ParseNet(value).text);
  }
  EXPECT_EQ(nets, (std::vector<std::string>{"52:54:00:12:34:56 10.0.2.15/24 via 10.0.2.2",
                                            "52:54:00:12:34:57 dhcp", "52:54:00:12:34:58 link"}));
  Decoded d = Decode(line);
  ASSERT_EQ(d.result, VMRUN_CMD_FOUND);
  EXPECT_EQ(d.args, (Args{"ip", "addr"}));
}

}  // namespace
