// Unit tests for the guest init's kernel command line decoder
// (guest/init/cmd_decode.c): vmrun.cmd, vmrun.9p, vmrun.net, against
// docs/guest-protocol.md.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "cmd_decode.h"

namespace {

// Reference encoder, written from the protocol text: safe bytes stand for
// themselves, every other byte becomes %XX (upper-case), args joined by ','.
std::string Encode(const std::vector<std::string>& args) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (size_t i = 0; i < args.size(); ++i) {
    if (i > 0) out += ',';
    for (unsigned char c : args[i]) {
      bool safe = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                  (c >= '0' && c <= '9') ||
                  std::string("._/:@+=-").find(static_cast<char>(c)) != std::string::npos;
      if (safe) {
        out += static_cast<char>(c);
      } else {
        out += '%';
        out += kHex[c >> 4];
        out += kHex[c & 15];
      }
    }
  }
  return out;
}

// The struct is large and self-referential; keep it on the heap.
struct Decoded {
  vmrun_cmd_result result;
  std::vector<std::string> args;
};

Decoded Decode(const std::string& cmdline) {
  auto cmd = std::make_unique<vmrun_cmd>();
  Decoded d;
  d.result = vmrun_cmd_decode(cmdline.c_str(), cmd.get());
  for (int i = 0; i < cmd->argc; ++i) d.args.emplace_back(cmd->argv[i]);
  EXPECT_EQ(cmd->argv[cmd->argc], nullptr);
  if (d.result != VMRUN_CMD_FOUND) {
    EXPECT_EQ(cmd->argc, 0);
  }
  return d;
}

using Args = std::vector<std::string>;

void ExpectRoundTrip(const Args& args) {
  std::string line = "console=ttyS0 quiet vmrun.cmd=" + Encode(args) + "\n";
  Decoded d = Decode(line);
  ASSERT_EQ(d.result, VMRUN_CMD_FOUND) << line;
  EXPECT_EQ(d.args, args) << line;
}

TEST(CmdDecode, ProtocolExample) {
  std::string enc = Encode({"sh", "-c", "echo \"hi, there\"; exit 3"});
  EXPECT_EQ(enc, "sh,-c,echo%20%22hi%2C%20there%22%3B%20exit%203");
  Decoded d = Decode("vmrun.cmd=" + enc);
  ASSERT_EQ(d.result, VMRUN_CMD_FOUND);
  EXPECT_EQ(d.args, (Args{"sh", "-c", "echo \"hi, there\"; exit 3"}));
}

TEST(CmdDecode, SpacesQuotesCommasNewlines) {
  ExpectRoundTrip({"a b", "  ", "\"quoted\"", "'single'", "x,y,,z", "line1\nline2\n", "%41", "\t"});
  ExpectRoundTrip({"echo", "a=b", "user@host:/p/a.t_h+x-y"});
}

TEST(CmdDecode, EveryByteRoundTrips) {
  std::string all;
  Args each;
  for (int b = 1; b <= 255; ++b) {
    all += static_cast<char>(b);
    each.emplace_back(1, static_cast<char>(b));
  }
  ExpectRoundTrip({all});
  ExpectRoundTrip(each);
}

TEST(CmdDecode, LowerCaseHexAccepted) {
  Decoded d = Decode("vmrun.cmd=%2c%7e");
  ASSERT_EQ(d.result, VMRUN_CMD_FOUND);
  EXPECT_EQ(d.args, (Args{",~"}));
}

TEST(CmdDecode, EmptyArguments) {
  Decoded d = Decode("vmrun.cmd=");
  ASSERT_EQ(d.result, VMRUN_CMD_FOUND);
  EXPECT_EQ(d.args, (Args{""}));
  d = Decode("vmrun.cmd=\n");
  ASSERT_EQ(d.result, VMRUN_CMD_FOUND);
  EXPECT_EQ(d.args, (Args{""}));
  d = Decode("vmrun.cmd=a,,b,");
  ASSERT_EQ(d.result, VMRUN_CMD_FOUND);
  EXPECT_EQ(d.args, (Args{"a", "", "b", ""}));
}

TEST(CmdDecode, NotFound) {
  for (const char* line : {"", "\n", "   ", "console=ttyS0 quiet\n", "xvmrun.cmd=ls",
                           "vmrun.cmdx=ls", "vmrun.cm=ls", "vmrun.cmd", "vmrun.name=ls",
                           "foo=\"vmrun.cmd=ls\"", "foo=\"a vmrun.cmd=ls\"",
                           "init=/x/vmrun.cmd=ls"}) {
    EXPECT_EQ(Decode(line).result, VMRUN_CMD_NOT_FOUND) << line;
  }
}

TEST(CmdDecode, MalformedEscapes) {
  for (const char* line : {"vmrun.cmd=%", "vmrun.cmd=%4", "vmrun.cmd=a%4 b=1", "vmrun.cmd=%G1",
                           "vmrun.cmd=%1G", "vmrun.cmd=%%41", "vmrun.cmd=ok,%-1", "vmrun.cmd=%4\n",
                           "vmrun.cmd=% 41", "vmrun.cmd=%4,1"}) {
    EXPECT_EQ(Decode(line).result, VMRUN_CMD_BAD_ESCAPE) << line;
  }
  EXPECT_EQ(Decode("vmrun.cmd=a%00b").result, VMRUN_CMD_NUL_BYTE);
}

TEST(CmdDecode, TooManyArgs) {
  Args max(VMRUN_CMD_MAX_ARGS, "x");
  ExpectRoundTrip(max);
  Args over(VMRUN_CMD_MAX_ARGS + 1, "x");
  EXPECT_EQ(Decode("vmrun.cmd=" + Encode(over)).result, VMRUN_CMD_TOO_MANY_ARGS);
  Args empties(VMRUN_CMD_MAX_ARGS + 1, "");
  EXPECT_EQ(Decode("vmrun.cmd=" + Encode(empties)).result, VMRUN_CMD_TOO_MANY_ARGS);
}

TEST(CmdDecode, TooLong) {
  ExpectRoundTrip({std::string(VMRUN_CMD_MAX_DATA, 'a')});
  ExpectRoundTrip({std::string(VMRUN_CMD_MAX_DATA, ' ')});  // limit counts decoded bytes
  EXPECT_EQ(Decode("vmrun.cmd=" + std::string(VMRUN_CMD_MAX_DATA + 1, 'a')).result,
            VMRUN_CMD_TOO_LONG);
  EXPECT_EQ(Decode("vmrun.cmd=" + Encode({std::string(VMRUN_CMD_MAX_DATA + 1, '\n')})).result,
            VMRUN_CMD_TOO_LONG);
  // Split over many args: the limit is on the total, and separators are free.
  Args split(VMRUN_CMD_MAX_ARGS, std::string(VMRUN_CMD_MAX_DATA / VMRUN_CMD_MAX_ARGS, 'b'));
  ExpectRoundTrip(split);
  split.back() += 'c';
  EXPECT_EQ(Decode("vmrun.cmd=" + Encode(split)).result, VMRUN_CMD_TOO_LONG);
}

TEST(CmdDecode, LastTokenWins) {
  Decoded d = Decode("vmrun.cmd=first quiet vmrun.cmd=second,arg\n");
  ASSERT_EQ(d.result, VMRUN_CMD_FOUND);
  EXPECT_EQ(d.args, (Args{"second", "arg"}));
  // The last one counts even when it is malformed...
  EXPECT_EQ(Decode("vmrun.cmd=ok vmrun.cmd=%ZZ").result, VMRUN_CMD_BAD_ESCAPE);
  // ...and a malformed earlier one does not matter.
  d = Decode("vmrun.cmd=%ZZ vmrun.cmd=ok");
  ASSERT_EQ(d.result, VMRUN_CMD_FOUND);
  EXPECT_EQ(d.args, (Args{"ok"}));
}

TEST(CmdDecode, TokenAmongOtherText) {
  Decoded d = Decode("BOOT_IMAGE=/vmlinuz console=ttyS0 vmrun.cmd=ls,-l,/ panic=-1 quiet\n");
  ASSERT_EQ(d.result, VMRUN_CMD_FOUND);
  EXPECT_EQ(d.args, (Args{"ls", "-l", "/"}));
  // Tabs and newlines separate tokens too.
  d = Decode("a=1\tvmrun.cmd=true\nb=2");
  ASSERT_EQ(d.result, VMRUN_CMD_FOUND);
  EXPECT_EQ(d.args, (Args{"true"}));
  // Text inside another token's quotes never starts a token, even if it
  // comes last on the line.
  d = Decode("vmrun.cmd=good x=\"y vmrun.cmd=evil\" z=\"vmrun.cmd=evil2\"");
  ASSERT_EQ(d.result, VMRUN_CMD_FOUND);
  EXPECT_EQ(d.args, (Args{"good"}));
  d = Decode("vmrun.cmd=good \"x=y vmrun.cmd=evil\"");
  ASSERT_EQ(d.result, VMRUN_CMD_FOUND);
  EXPECT_EQ(d.args, (Args{"good"}));
}

TEST(CmdDecode, KernelStyleQuotedToken) {
  // The kernel accepts "vmrun.cmd=a b" and vmrun.cmd="a b"; so do we.
  Decoded d = Decode("quiet \"vmrun.cmd=a b,c\" x=1");
  ASSERT_EQ(d.result, VMRUN_CMD_FOUND);
  EXPECT_EQ(d.args, (Args{"a b", "c"}));
  d = Decode("vmrun.cmd=\"a b\"\n");
  ASSERT_EQ(d.result, VMRUN_CMD_FOUND);
  EXPECT_EQ(d.args, (Args{"a b"}));
}

TEST(CmdDecode, ResultStrings) {
  for (int r = VMRUN_CMD_FOUND; r <= VMRUN_CMD_TOO_MANY_ARGS; ++r) {
    const char* s = vmrun_cmd_result_str(static_cast<vmrun_cmd_result>(r));
    ASSERT_NE(s, nullptr);
    EXPECT_GT(std::string(s).size(), 0u);
  }
  EXPECT_STREQ(vmrun_cmd_result_str(VMRUN_CMD_BAD_ESCAPE), "bad % escape");
}

TEST(CmdlineGet, FindsValues) {
  char out[64];
  const char* line = "console=ttyS0 vmrun.name=one vmrun.name2=x vmrun.name=two\n";
  EXPECT_EQ(cmdline_get(line, "vmrun.name", out, sizeof out), 1);
  EXPECT_STREQ(out, "two");
  EXPECT_EQ(cmdline_get(line, "vmrun.name2", out, sizeof out), 1);
  EXPECT_STREQ(out, "x");
  EXPECT_EQ(cmdline_get(line, "console", out, sizeof out), 1);
  EXPECT_STREQ(out, "ttyS0");
  EXPECT_EQ(cmdline_get(line, "vmrun.nam", out, sizeof out), 0);
  EXPECT_STREQ(out, "");
  EXPECT_EQ(cmdline_get("", "vmrun.name", out, sizeof out), 0);
}

TEST(CmdlineGet, QuotesFlagsAndSizes) {
  char out[8];
  EXPECT_EQ(cmdline_get("vmrun.name=\"a b\" q", "vmrun.name", out, sizeof out), 1);
  EXPECT_STREQ(out, "a b");
  EXPECT_EQ(cmdline_get("\"vmrun.name=c d\"", "vmrun.name", out, sizeof out), 1);
  EXPECT_STREQ(out, "c d");
  EXPECT_EQ(cmdline_get("quiet vmrun.flag", "vmrun.flag", out, sizeof out), 1);
  EXPECT_STREQ(out, "");
  EXPECT_EQ(cmdline_get("vmrun.name=", "vmrun.name", out, sizeof out), 1);
  EXPECT_STREQ(out, "");
  EXPECT_EQ(cmdline_get("vmrun.name=1234567", "vmrun.name", out, sizeof out), 1);
  EXPECT_STREQ(out, "1234567");
  EXPECT_EQ(cmdline_get("vmrun.name=12345678", "vmrun.name", out, sizeof out), -1);
  EXPECT_STREQ(out, "");
  EXPECT_EQ(cmdline_get("vmrun.name=x", "vmrun.name", out, 0), -1);
  EXPECT_EQ(cmdline_get("x=\"vmrun.name=no\"", "vmrun.name", out, sizeof out), 0);
}

// The job disk settings (docs/guest-protocol.md), as vmrun appends them:
// after the user's -p text and before the command.
TEST(CmdlineGet, JobDiskTokens) {
  char out[32];
  const char* line =
      "console=ttyS0 loglevel=1 panic=-1 vmrun.job=vda vmrun.job_ro=1 vmrun.cmd=sh\n";
  EXPECT_EQ(cmdline_get(line, "vmrun.job", out, sizeof out), 1);
  EXPECT_STREQ(out, "vda");
  EXPECT_EQ(cmdline_get(line, "vmrun.job_ro", out, sizeof out), 1);
  EXPECT_STREQ(out, "1");
  // vmrun.job is not a prefix match of vmrun.job_ro, nor the other way.
  EXPECT_EQ(cmdline_get("vmrun.job_ro=1", "vmrun.job", out, sizeof out), 0);
  EXPECT_EQ(cmdline_get("vmrun.job=vda", "vmrun.job_ro", out, sizeof out), 0);
  EXPECT_EQ(cmdline_get("vmrun.jobx=vda", "vmrun.job", out, sizeof out), 0);
  // Without a job disk: no token (init behaves as without job images).
  EXPECT_EQ(cmdline_get("console=ttyS0 vmrun.cmd=sh", "vmrun.job", out, sizeof out), 0);
  // A job's command still decodes next to the job tokens.
  auto cmd = std::make_unique<vmrun_cmd>();
  ASSERT_EQ(vmrun_cmd_decode(line, cmd.get()), VMRUN_CMD_FOUND);
  ASSERT_EQ(cmd->argc, 1);
  EXPECT_STREQ(cmd->argv[0], "sh");
  // The user's -p text comes first, so vmrun's own token wins over it.
  EXPECT_EQ(cmdline_get("vmrun.job=vdz vmrun.job=vda", "vmrun.job", out, sizeof out), 1);
  EXPECT_STREQ(out, "vda");
}

// Settings given several times (vmrun.9p): every occurrence, in order.
TEST(CmdlineNext, EveryOccurrenceInOrder) {
  const char* line =
      "vmrun.9p=a,/a quiet vmrun.9px=no \"vmrun.9p=b c\" x=\"vmrun.9p=no\" vmrun.9p=\"d e\" "
      "vmrun.9p\n";
  const char* cursor = line;
  char out[16];
  std::vector<std::string> got;
  int r;
  while ((r = cmdline_next(&cursor, "vmrun.9p", out, sizeof out)) == 1) got.emplace_back(out);
  EXPECT_EQ(r, 0);
  EXPECT_EQ(got, (std::vector<std::string>{"a,/a", "b c", "d e", ""}));
  EXPECT_EQ(cmdline_next(&cursor, "vmrun.9p", out, sizeof out), 0);  // stays at the end
  cursor = "console=ttyS0";
  EXPECT_EQ(cmdline_next(&cursor, "vmrun.9p", out, sizeof out), 0);
  EXPECT_STREQ(out, "");
}

TEST(CmdlineNext, TooLongMovesOn) {
  const char* cursor = "vmrun.9p=12345678 vmrun.9p=1234567";
  char out[8];
  EXPECT_EQ(cmdline_next(&cursor, "vmrun.9p", out, sizeof out), -1);
  EXPECT_STREQ(out, "");
  EXPECT_EQ(cmdline_next(&cursor, "vmrun.9p", out, sizeof out), 1);
  EXPECT_STREQ(out, "1234567");
  EXPECT_EQ(cmdline_next(&cursor, "vmrun.9p", out, sizeof out), 0);
}

struct Share {
  vmrun_share_result result;
  std::string tag, path;
  int read_only;
};

Share ParseShare(const std::string& value) {
  auto s = std::make_unique<vmrun_share>();
  memset(s.get(), 0x5a, sizeof *s);  // must be zeroed whatever the result
  Share out{vmrun_share_parse(value.c_str(), s.get()), s->tag, s->path, s->read_only};
  if (out.result != VMRUN_SHARE_OK) {
    EXPECT_EQ(out.tag, "") << value;
    EXPECT_EQ(out.path, "") << value;
    EXPECT_EQ(out.read_only, 0) << value;
  }
  return out;
}

TEST(ShareDecode, ProtocolExamples) {
  Share s = ParseShare("src,/mnt/src");
  ASSERT_EQ(s.result, VMRUN_SHARE_OK);
  EXPECT_EQ(s.tag, "src");
  EXPECT_EQ(s.path, "/mnt/src");
  EXPECT_EQ(s.read_only, 0);
  s = ParseShare("docs,/srv/docs,ro");
  ASSERT_EQ(s.result, VMRUN_SHARE_OK);
  EXPECT_EQ(s.path, "/srv/docs");
  EXPECT_EQ(s.read_only, 1);
  // Encoded like vmrun.cmd's arguments.
  std::string enc = Encode({"data", "/mnt/my data,v2"});
  EXPECT_EQ(enc, "data,/mnt/my%20data%2Cv2");
  s = ParseShare(enc + ",ro");
  ASSERT_EQ(s.result, VMRUN_SHARE_OK);
  EXPECT_EQ(s.path, "/mnt/my data,v2");
  EXPECT_EQ(s.read_only, 1);
  EXPECT_EQ(ParseShare("d%61ta,%2fx").path, "/x");  // lower-case hex, like vmrun.cmd
}

TEST(ShareDecode, EveryPathByteRoundTrips) {
  std::string path = "/";
  for (int b = 1; b <= 255; ++b) path += static_cast<char>(b);
  Share s = ParseShare(Encode({"t", path}));
  ASSERT_EQ(s.result, VMRUN_SHARE_OK);
  EXPECT_EQ(s.path, path);
}

TEST(ShareDecode, Tags) {
  EXPECT_EQ(ParseShare("aZ09_.-,/x").tag, "aZ09_.-");
  EXPECT_EQ(ParseShare(std::string(VMRUN_SHARE_TAG_MAX, 't') + ",/x").result, VMRUN_SHARE_OK);
  for (const std::string& tag : {std::string(VMRUN_SHARE_TAG_MAX + 1, 't'), std::string(""),
                                 std::string("a/b"), std::string("a%2Fb"), std::string("a%20b"),
                                 std::string("a%C3%A9"), std::string("a:b"), std::string("a+b")}) {
    EXPECT_EQ(ParseShare(tag + ",/x").result, VMRUN_SHARE_BAD_TAG) << tag;
  }
}

TEST(ShareDecode, Paths) {
  for (const char* path : {"/a", "/a/", "/a//b", "/a/./b", "/..a", "/a..", "/...", "/.a",
                           "/a/b/c", "//a"}) {
    EXPECT_EQ(ParseShare(std::string("t,") + path).result, VMRUN_SHARE_OK) << path;
  }
  for (const char* path : {"", "a", "a/b", "./a", "../a", "/", "//", "/.", "/./", "/..",
                           "/a/..", "/a/../b", "/a/..//", "%2E%2E/a", "/a/%2E%2E"}) {
    EXPECT_EQ(ParseShare(std::string("t,") + path).result, VMRUN_SHARE_BAD_PATH) << path;
  }
}

TEST(ShareDecode, Fields) {
  for (const char* value : {"", "t", "/x", "t,/x,rw", "t,/x,RO", "t,/x,", "t,/x,ro,",
                            "t,/x,ro,ro", "t,/x%2Cro"}) {
    Share s = ParseShare(value);
    if (std::string(value) == "t,/x%2Cro") {
      EXPECT_EQ(s.path, "/x,ro");  // an encoded ',' is part of the path
      EXPECT_EQ(s.read_only, 0);
    } else {
      EXPECT_EQ(s.result, VMRUN_SHARE_BAD_FIELDS) << value;
    }
  }
  std::string many = "t,/x";
  for (int i = 0; i < VMRUN_CMD_MAX_ARGS + 1; ++i) many += ",ro";
  EXPECT_EQ(ParseShare(many).result, VMRUN_SHARE_BAD_FIELDS);
}

TEST(ShareDecode, EscapesAndLength) {
  EXPECT_EQ(ParseShare("t,/x%2").result, VMRUN_SHARE_BAD_ESCAPE);
  EXPECT_EQ(ParseShare("t%ZZ,/x").result, VMRUN_SHARE_BAD_ESCAPE);
  EXPECT_EQ(ParseShare("t,/x%00").result, VMRUN_SHARE_NUL_BYTE);
  // The longest path: PATH_MAX bytes with its NUL.
  std::string longest = "/" + std::string(VMRUN_SHARE_PATH_MAX - 2, 'p');
  EXPECT_EQ(ParseShare("t," + longest).path, longest);
  EXPECT_EQ(ParseShare("t," + longest + "p").result, VMRUN_SHARE_TOO_LONG);
  EXPECT_EQ(ParseShare(Encode({"t", longest + " "})).result, VMRUN_SHARE_TOO_LONG);
}

TEST(ShareDecode, ResultStrings) {
  for (int r = VMRUN_SHARE_OK; r <= VMRUN_SHARE_BAD_PATH; ++r) {
    const char* s = vmrun_share_result_str(static_cast<vmrun_share_result>(r));
    ASSERT_NE(s, nullptr);
    EXPECT_GT(std::string(s).size(), 0u);
  }
  EXPECT_STREQ(vmrun_share_result_str(VMRUN_SHARE_BAD_FIELDS), "expected TAG,PATH or TAG,PATH,ro");
}

// As vmrun appends them: one token per share, in order, next to the others;
// vmrun.cmd still decodes.
TEST(ShareDecode, NextToOtherTokens) {
  std::string line = "console=ttyS0 vmrun.9p=src,/mnt/src vmrun.9p=" +
                     Encode({"o", "/srv/a b"}) + ",ro vmrun.job=vda vmrun.cmd=ls,/mnt/src\n";
  const char* cursor = line.c_str();
  char value[256];
  std::vector<std::string> paths;
  while (cmdline_next(&cursor, "vmrun.9p", value, sizeof value) == 1) {
    Share s = ParseShare(value);
    ASSERT_EQ(s.result, VMRUN_SHARE_OK) << value;
    paths.push_back(s.path + (s.read_only ? " ro" : " rw"));
  }
  EXPECT_EQ(paths, (std::vector<std::string>{"/mnt/src rw", "/srv/a b ro"}));
  Decoded d = Decode(line);
  ASSERT_EQ(d.result, VMRUN_CMD_FOUND);
  EXPECT_EQ(d.args, (Args{"ls", "/mnt/src"}));
}

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
