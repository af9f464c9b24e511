// The image config vmrun-rootfs reads (OCI/docker JSON) and the `config`
// file it writes for vmrun (tools/rootfs/image_config.h).
#include <gtest/gtest.h>

#include "tools/rootfs/errors.h"
#include "tools/rootfs/image_config.h"

namespace vmrun::rootfs {
namespace {

using Strings = std::vector<std::string>;

TEST(RootfsConfig, ReadsWhatDockerRunUses) {
  auto c = parse_oci_config(R"({
    "architecture": "amd64", "os": "linux",
    "config": {
      "Entrypoint": ["/usr/bin/python3", "-u"],
      "Cmd": ["/app/measure.py", "--count", "3"],
      "Env": ["PATH=/usr/local/bin:/usr/bin", "LANG=C.UTF-8"],
      "WorkingDir": "/app",
      "User": "meter:dialout",
      "ExposedPorts": {"5025/tcp": {}}
    },
    "rootfs": {"type": "layers", "diff_ids": []}
  })");
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->architecture, "amd64");
  EXPECT_EQ(c->entrypoint, (Strings{"/usr/bin/python3", "-u"}));
  EXPECT_EQ(c->cmd, (Strings{"/app/measure.py", "--count", "3"}));
  EXPECT_EQ(c->env, (Strings{"PATH=/usr/local/bin:/usr/bin", "LANG=C.UTF-8"}));
  EXPECT_EQ(c->workdir, "/app");
  EXPECT_EQ(c->user, "meter:dialout");
}

TEST(RootfsConfig, NullsAndMissingFieldsAreEmpty) {
  auto c = parse_oci_config(
      R"({"architecture":"amd64","config":{"Entrypoint":null,"Cmd":null}})");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->entrypoint.empty());
  EXPECT_TRUE(c->cmd.empty());
  EXPECT_TRUE(parse_oci_config(R"({"os":"linux"})").ok());
}

TEST(RootfsConfig, WrongTypesRefused) {
  auto c = parse_oci_config(R"({"config":{"Cmd":"echo hi"}})");
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(is_input_error(c.error()));
  EXPECT_EQ(plain_message(c.error()),
            "the image config: Cmd is not a list of strings");
  EXPECT_FALSE(parse_oci_config(R"({"config":{"Env":[1]}})").ok());
  EXPECT_FALSE(parse_oci_config(R"([1,2])").ok());
  EXPECT_FALSE(parse_oci_config("{").ok());
  EXPECT_FALSE(parse_oci_config(std::string((1 << 20) + 1, ' ')).ok());
}

TEST(RootfsConfig, PlatformCheck) {
  OciConfig c;
  EXPECT_TRUE(check_platform(c, "x").ok());
  c.architecture = "arm64";
  auto r = check_platform(c, "img.tar");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(plain_message(r.error()),
            "img.tar is an image for linux/arm64; vmrun runs linux/amd64");
  c.architecture = "amd64";
  c.os = "windows";
  EXPECT_FALSE(check_platform(c, "x").ok());
}

TEST(RootfsConfig, PercentEncoding) {
  EXPECT_EQ(percent_encode("AZaz09._/:@+=-"), "AZaz09._/:@+=-");
  EXPECT_EQ(percent_encode("a b\nc%d\te\"'$\\"),
            "a%20b%0Ac%25d%09e%22%27%24%5C");
  EXPECT_EQ(percent_encode(std::string("\x00\xff", 2)), "%00%FF");
  EXPECT_EQ(percent_encode(""), "");
}

TEST(RootfsConfig, RenderedFileHasOneKeyValueLineEach) {
  OciConfig c;
  c.architecture = "amd64";
  c.entrypoint = {"/bin/sh", "-c"};
  c.cmd = {"echo hello world", ""};
  c.env = {"A=1", "B=two words"};
  c.workdir = "/app dir";
  c.user = "1000:1000";
  EXPECT_EQ(render_config(c, "sha256:abc", "app:1"),
            "arch amd64\n"
            "digest sha256:abc\n"
            "name app:1\n"
            "entrypoint /bin/sh\n"
            "entrypoint -c\n"
            "cmd echo%20hello%20world\n"
            "cmd \n"
            "env A=1\n"
            "env B=two%20words\n"
            "workdir /app%20dir\n"
            "user 1000:1000\n");
  OciConfig bare;
  EXPECT_EQ(render_config(bare, "sha256:abc", ""),
            "arch amd64\ndigest sha256:abc\n");
}

}  // namespace
}  // namespace vmrun::rootfs
