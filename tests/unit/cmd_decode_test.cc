// Unit tests for the guest init's kernel command line decoder
// (guest/init/cmd_decode.c): vmrun.cmd, and finding settings on the line
// (cmdline_get, cmdline_next), against docs/guest-protocol.md. vmrun.9p is
// in cmd_decode_share_test.cc, vmrun.net in cmd_decode_net_test.cc.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "cmd_decode.h"
#include "tests/unit/cmd_decode_helpers.h"

namespace {

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

}  // namespace
