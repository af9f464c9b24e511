// Unit tests for the guest init's vmrun.9p decoder (vmrun_share_parse in
// guest/init/cmd_decode.c): TAG,PATH[,ro], its tags, paths, fields and
// escapes, against docs/guest-protocol.md.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "cmd_decode.h"
#include "tests/unit/cmd_decode_helpers.h"

namespace {

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

}  // namespace
