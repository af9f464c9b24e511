// The guest kernel command line and the job encoding of
// docs/guest-protocol.md, checked against the guest's own decoder
// (guest/init/cmd_decode.c), so both sides of the contract agree.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cmd_decode.h"
#include "vmm/guest_cmdline.h"

namespace vmrun {
namespace {

using Args = std::vector<std::string>;

struct Decoded {
  vmrun_cmd_result result;
  Args args;
};

// What guest init would run, given this /proc/cmdline.
Decoded decode(const std::string& cmdline) {
  auto cmd = std::make_unique<vmrun_cmd>();
  Decoded d{vmrun_cmd_decode(cmdline.c_str(), cmd.get()), {}};
  for (int i = 0; i < cmd->argc; ++i) d.args.emplace_back(cmd->argv[i]);
  return d;
}

TEST(EncodeJobCommandTest, ProtocolExample) {
  EXPECT_EQ(encode_job_command({"sh", "-c", "echo \"hi, there\"; exit 3"}),
            "vmrun.cmd=sh,-c,echo%20%22hi%2C%20there%22%3B%20exit%203");
}

TEST(EncodeJobCommandTest, SafeBytesStandForThemselves) {
  const std::string safe =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._/:@+=-";
  EXPECT_EQ(encode_job_command({safe}), "vmrun.cmd=" + safe);
}

TEST(EncodeJobCommandTest, EverythingElseIsPercentHexUpperCase) {
  EXPECT_EQ(encode_job_command({"a b"}), "vmrun.cmd=a%20b");
  EXPECT_EQ(encode_job_command({"'x'"}), "vmrun.cmd=%27x%27");
  EXPECT_EQ(encode_job_command({"\"q\""}), "vmrun.cmd=%22q%22");
  EXPECT_EQ(encode_job_command({"a,b"}), "vmrun.cmd=a%2Cb");
  EXPECT_EQ(encode_job_command({"100%"}), "vmrun.cmd=100%25");
  EXPECT_EQ(encode_job_command({"l1\nl2"}), "vmrun.cmd=l1%0Al2");
  EXPECT_EQ(encode_job_command({"\t\r"}), "vmrun.cmd=%09%0D");
  EXPECT_EQ(encode_job_command({"caf\xc3\xa9"}), "vmrun.cmd=caf%C3%A9");
  EXPECT_EQ(encode_job_command({"\xff\x7f"}), "vmrun.cmd=%FF%7F");
  EXPECT_EQ(encode_job_command({"$HOME*?~!#&;<>()[]{}|\\`^"}),
            "vmrun.cmd=%24HOME%2A%3F%7E%21%23%26%3B%3C%3E%28%29%5B%5D%7B%7D"
            "%7C%5C%60%5E");
}

TEST(EncodeJobCommandTest, EmptyArguments) {
  EXPECT_EQ(encode_job_command({""}), "vmrun.cmd=");
  EXPECT_EQ(encode_job_command({"a", ""}), "vmrun.cmd=a,");
  EXPECT_EQ(encode_job_command({"", "", "b"}), "vmrun.cmd=,,b");
}

TEST(EncodeJobCommandTest, NoArgvNoToken) {
  EXPECT_EQ(encode_job_command({}), "");
}

TEST(EncodeJobCommandTest, TokenHasNoSpaceOrQuote) {
  std::string all;
  for (int c = 1; c < 256; ++c) all += static_cast<char>(c);
  std::string token = encode_job_command({all, all});
  EXPECT_EQ(token.find_first_of(" \t\n\r\"'"), std::string::npos);
}

TEST(EncodeJobCommandTest, SpecialArgumentsRoundTrip) {
  const std::vector<Args> cases = {
      {"sh", "-c", "echo \"hi, there\"; exit 3"},
      {"printf", "%s\\n", "50%", "%41", "%"},
      {"a,b", ",", ",,"},
      {"line1\nline2", "\r\n"},
      {"caf\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"},
      {""},
      {"", ""},
      {"x", "", "y"},
      {"vmrun.cmd=evil", "console=ttyS1"},
      {" leading", "trailing ", "  "},
  };
  for (const auto& args : cases) {
    auto cmdline = build_kernel_cmdline("", args);
    ASSERT_TRUE(cmdline.ok());
    Decoded d = decode(cmdline.value());
    ASSERT_EQ(d.result, VMRUN_CMD_FOUND) << cmdline.value();
    EXPECT_EQ(d.args, args) << cmdline.value();
  }
}

TEST(EncodeJobCommandTest, RandomBytesRoundTrip) {
  std::mt19937 rng(20261122);
  std::uniform_int_distribution<int> argc_dist(1, 12);
  std::uniform_int_distribution<int> len_dist(0, 24);
  std::uniform_int_distribution<int> byte_dist(1, 255);  // argv has no NUL
  for (int iter = 0; iter < 2000; ++iter) {
    Args args(argc_dist(rng));
    for (auto& a : args) {
      a.resize(len_dist(rng));
      for (auto& c : a) c = static_cast<char>(byte_dist(rng));
    }
    auto cmdline = build_kernel_cmdline("loglevel=4", args);
    ASSERT_TRUE(cmdline.ok()) << cmdline.error().message();
    Decoded d = decode(cmdline.value());
    ASSERT_EQ(d.result, VMRUN_CMD_FOUND) << "iteration " << iter;
    ASSERT_EQ(d.args, args) << "iteration " << iter;
  }
}

// ---- build_kernel_cmdline ----

TEST(BuildKernelCmdlineTest, BaseThenUserParamsThenToken) {
  auto c = build_kernel_cmdline("loglevel=7 foo=\"a b\"", {"true"});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c.value(), std::string(kBaseKernelParams) +
                           " loglevel=7 foo=\"a b\" vmrun.cmd=true");
}

TEST(BuildKernelCmdlineTest, BaseParamsSetTheConsole) {
  auto c = build_kernel_cmdline("", {});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c.value(), kBaseKernelParams);
  EXPECT_NE(c.value().find("console=ttyS0"), std::string::npos);
}

TEST(BuildKernelCmdlineTest, EmptyArgvGivesNoToken) {
  auto c = build_kernel_cmdline("quiet", {});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c.value().find("vmrun.cmd"), std::string::npos);
  EXPECT_EQ(decode(c.value()).result, VMRUN_CMD_NOT_FOUND);
  EXPECT_EQ(c.value().back(), 't');  // no trailing space
}

TEST(BuildKernelCmdlineTest, JobTokenWinsOverOneInUserParams) {
  auto c = build_kernel_cmdline("vmrun.cmd=evil", {"good"});
  ASSERT_TRUE(c.ok());
  Decoded d = decode(c.value());
  ASSERT_EQ(d.result, VMRUN_CMD_FOUND);
  EXPECT_EQ(d.args, Args{"good"});
}

// A -p text with an unbalanced double quote would make the kernel (and init,
// which splits the same way) read the job token as part of the user's quoted
// value: the job would silently not run. It must be rejected instead.
TEST(BuildKernelCmdlineTest, UnbalancedQuoteInUserParamsDoesNotEatTheJob) {
  auto c = build_kernel_cmdline("foo=\"bar", {"echo", "hi"});
  if (!c.ok()) return;  // rejecting the -p text is a correct answer
  Decoded d = decode(c.value());
  EXPECT_EQ(d.result, VMRUN_CMD_FOUND) << c.value();
  EXPECT_EQ(d.args, (Args{"echo", "hi"})) << c.value();
}

TEST(BuildKernelCmdlineTest, LimitIs2047Bytes) {
  const size_t fixed = std::strlen(kBaseKernelParams) + std::strlen(" vmrun.cmd=");
  auto fits = build_kernel_cmdline("", {std::string(2047 - fixed, 'a')});
  ASSERT_TRUE(fits.ok()) << fits.error().message();
  EXPECT_EQ(fits.value().size(), 2047u);
  auto over = build_kernel_cmdline("", {std::string(2048 - fixed, 'a')});
  ASSERT_FALSE(over.ok());
  EXPECT_NE(over.error().message().find("2047"), std::string::npos)
      << over.error().message();
}

TEST(BuildKernelCmdlineTest, LimitCountsEncodedBytes) {
  // 700 spaces are 2100 bytes once encoded.
  EXPECT_FALSE(build_kernel_cmdline("", {std::string(700, ' ')}).ok());
  EXPECT_FALSE(build_kernel_cmdline(std::string(2100, 'x'), {}).ok());
}

}  // namespace
}  // namespace vmrun
