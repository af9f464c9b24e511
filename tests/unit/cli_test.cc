// vmrun's command line: defaults, every option in both spellings, the job
// command after "--", and each kind of bad input (vmm/cli.h).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <variant>
#include <vector>

#include "vmm/cli.h"

#include "tests/support/temp_dir.h"

namespace vmrun {
namespace {

namespace fs = std::filesystem;
using Args = std::vector<std::string>;

constexpr uint64_t kHostMemMib = 8192;

class CliTest : public ::testing::Test {
 protected:
  vmrun::test_support::TempDir tmp_;
  void SetUp() override {
    dir_ = tmp_.path();
    images_ = dir_ + "/images";
    fs::create_directories(images_);
    touch(images_ + "/vmlinux");
    touch(images_ + "/initramfs.cpio");
    touch(dir_ + "/other-kernel");
    touch(dir_ + "/other-initrd");
    fs::create_directories(dir_ + "/empty");
  }

  static void touch(const std::string& path) { std::ofstream(path) << "x"; }

  CliDefaults defaults() const { return {images_, kHostMemMib}; }

  // Parses args that must give a RunRequest.
  RunRequest run(const Args& args) {
    auto r = parse_cli(args, defaults());
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
    if (!r.ok()) return {};
    auto* req = std::get_if<RunRequest>(&r.value());
    EXPECT_NE(req, nullptr) << "expected a run request";
    return req ? *req : RunRequest{};
  }

  // Parses args that must fail; returns the message.
  std::string error(const Args& args, const CliDefaults* d = nullptr) {
    auto r = parse_cli(args, d ? *d : defaults());
    EXPECT_FALSE(r.ok()) << "accepted: " << testing::PrintToString(args);
    return r.ok() ? "" : r.error().message();
  }

  std::string dir_, images_;
};

TEST_F(CliTest, Defaults) {
  RunRequest r = run({});
  EXPECT_EQ(r.config.kernel, images_ + "/vmlinux");
  EXPECT_EQ(r.config.initrd, images_ + "/initramfs.cpio");
  EXPECT_EQ(r.config.mem_mib, 256u);
  EXPECT_EQ(r.config.cpus, 1);
  EXPECT_EQ(r.config.params, "");
  EXPECT_FALSE(r.config.timeout_seconds.has_value());
  EXPECT_EQ(r.config.kvm_device, "/dev/kvm");
  EXPECT_TRUE(r.config.command.empty());
  EXPECT_EQ(r.log_level, "warn");
}

TEST_F(CliTest, ShortOptions) {
  RunRequest r = run({"-k", dir_ + "/other-kernel", "-i", dir_ + "/other-initrd",
                      "-p", "loglevel=7 foo=bar", "-m", "1G", "-c", "4"});
  EXPECT_EQ(r.config.kernel, dir_ + "/other-kernel");
  EXPECT_EQ(r.config.initrd, dir_ + "/other-initrd");
  EXPECT_EQ(r.config.params, "loglevel=7 foo=bar");
  EXPECT_EQ(r.config.mem_mib, 1024u);
  EXPECT_EQ(r.config.cpus, 4);
}

TEST_F(CliTest, LongOptions) {
  RunRequest r = run({"--kernel", dir_ + "/other-kernel",
                      "--initrd=" + dir_ + "/other-initrd", "--params",
                      "quiet", "--mem=512", "--cpus", "2", "--timeout", "2.5",
                      "--log-level", "debug", "--kvm-device", "/dev/null"});
  EXPECT_EQ(r.config.kernel, dir_ + "/other-kernel");
  EXPECT_EQ(r.config.initrd, dir_ + "/other-initrd");
  EXPECT_EQ(r.config.params, "quiet");
  EXPECT_EQ(r.config.mem_mib, 512u);
  EXPECT_EQ(r.config.cpus, 2);
  ASSERT_TRUE(r.config.timeout_seconds.has_value());
  EXPECT_DOUBLE_EQ(*r.config.timeout_seconds, 2.5);
  EXPECT_EQ(r.log_level, "debug");
  EXPECT_EQ(r.config.kvm_device, "/dev/null");
}

TEST_F(CliTest, StickyShortValue) {
  RunRequest r = run({"-m512", "-c2"});
  EXPECT_EQ(r.config.mem_mib, 512u);
  EXPECT_EQ(r.config.cpus, 2);
}

TEST_F(CliTest, EverythingAfterDashDashIsTheCommand) {
  RunRequest r = run({"-m", "512", "--", "-m", "1", "--help", "--version",
                      "--", "-c", "0", "a b"});
  EXPECT_EQ(r.config.mem_mib, 512u);
  EXPECT_EQ(r.config.cpus, 1);
  EXPECT_EQ(r.config.command,
            (Args{"-m", "1", "--help", "--version", "--", "-c", "0", "a b"}));
}

TEST_F(CliTest, CommandMayFollowDashDashDirectly) {
  EXPECT_EQ(run({"--", "uname", "-a"}).config.command, (Args{"uname", "-a"}));
  EXPECT_TRUE(run({"--"}).config.command.empty());
  EXPECT_EQ(run({"--", ""}).config.command, Args{""});
}

TEST_F(CliTest, HelpAndVersion) {
  for (const Args& args : {Args{"--help"}, Args{"-h"}, Args{"-m", "512", "--help"}}) {
    auto r = parse_cli(args, defaults());
    ASSERT_TRUE(r.ok());
    auto* info = std::get_if<InfoRequest>(&r.value());
    ASSERT_NE(info, nullptr);
    EXPECT_NE(info->text.find("usage: vmrun"), std::string::npos);
    EXPECT_NE(info->text.find("--kernel"), std::string::npos);
    EXPECT_NE(info->text.find("125"), std::string::npos);
  }
  auto v = parse_cli({"--version"}, defaults());
  ASSERT_TRUE(v.ok());
  auto* info = std::get_if<InfoRequest>(&v.value());
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->text, "vmrun " VMRUN_VERSION "\n");
}

TEST_F(CliTest, HelpWorksWithoutImages) {
  CliDefaults none{dir_ + "/empty", kHostMemMib};
  auto r = parse_cli({"--help"}, none);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(std::holds_alternative<InfoRequest>(r.value()));
}

TEST_F(CliTest, UnknownFlag) {
  EXPECT_NE(error({"--frobnicate"}).find("frobnicate"), std::string::npos);
  EXPECT_FALSE(error({"-z"}).empty());
}

TEST_F(CliTest, MissingOptionValue) {
  EXPECT_FALSE(error({"-m"}).empty());
  EXPECT_FALSE(error({"--kernel"}).empty());
}

TEST_F(CliTest, BadCpuCounts) {
  EXPECT_NE(error({"-c", "0"}).find("cpus"), std::string::npos);
  EXPECT_FALSE(error({"-c", "-1"}).empty());
  EXPECT_FALSE(error({"--cpus=-1"}).empty());
  EXPECT_FALSE(error({"-c", "two"}).empty());
  EXPECT_FALSE(error({"-c", "99999999999"}).empty());
}

TEST_F(CliTest, BadMemorySizes) {
  EXPECT_NE(error({"-m", "10"}).find("too small"), std::string::npos);
  EXPECT_NE(error({"-m", "99999"}).find("8192"), std::string::npos);
  EXPECT_NE(error({"-m", "9G"}).find("8192"), std::string::npos);
  EXPECT_FALSE(error({"-m", "abc"}).empty());
  EXPECT_FALSE(error({"-m", "5T"}).empty());
  EXPECT_FALSE(error({"-m", "0"}).empty());
  EXPECT_FALSE(error({"-m", "1.5G"}).empty());
}

TEST_F(CliTest, MemoryLimitsAreInclusive) {
  EXPECT_EQ(run({"-m", "64"}).config.mem_mib, 64u);
  EXPECT_EQ(run({"-m", "8G"}).config.mem_mib, kHostMemMib);
}

TEST_F(CliTest, BadTimeouts) {
  for (const char* t : {"0", "-1", "nan", "inf", "soon", ""}) {
    EXPECT_FALSE(error({"--timeout", t}).empty()) << t;
  }
  EXPECT_FALSE(error({"--timeout=-1"}).empty());
}

TEST_F(CliTest, MissingKernelFile) {
  std::string path = dir_ + "/no-such-kernel";
  std::string msg = error({"-k", path});
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("does not exist"), std::string::npos) << msg;
}

TEST_F(CliTest, MissingInitrdFile) {
  std::string path = dir_ + "/no-such-initrd";
  std::string msg = error({"-i", path});
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("initrd"), std::string::npos) << msg;
}

TEST_F(CliTest, MissingDefaultImagesSayRunSetup) {
  CliDefaults none{dir_ + "/empty", kHostMemMib};
  std::string msg = error({}, &none);
  EXPECT_NE(msg.find("./setup"), std::string::npos) << msg;
  EXPECT_NE(msg.find(dir_ + "/empty/vmlinux"), std::string::npos) << msg;
  // With a kernel given, the missing default initramfs says the same.
  std::string msg2 = error({"-k", dir_ + "/other-kernel"}, &none);
  EXPECT_NE(msg2.find("./setup"), std::string::npos) << msg2;
  EXPECT_NE(msg2.find("initramfs"), std::string::npos) << msg2;
}

TEST_F(CliTest, ExplicitImagesNeedNoDefaults) {
  CliDefaults none{dir_ + "/empty", kHostMemMib};
  auto r = parse_cli({"-k", dir_ + "/other-kernel", "-i", dir_ + "/other-initrd"},
                     none);
  EXPECT_TRUE(r.ok()) << r.error().message();
}

// `vmrun uname` must not silently drop "uname" and start a shell.
// One argument before "--" is the job image; a second is an error.
TEST_F(CliTest, ArgumentBeforeDashDash) {
  std::string msg = error({dir_ + "/other-kernel", "uname"});
  EXPECT_NE(msg.find("--"), std::string::npos) << msg;
  EXPECT_NE(error({"uname"}).find("'uname' does not exist"), std::string::npos)
      << "a lone argument is a job image, which must exist";
}

TEST_F(CliTest, JobImageIsTheFirstDisk) {
  RunRequest r = run({dir_ + "/other-kernel", "-d", dir_ + "/other-initrd,ro",
                      "--disk", dir_ + "/other-kernel,snapshot"});
  ASSERT_EQ(r.config.disks.size(), 3u);
  EXPECT_TRUE(r.config.has_job_image);
  EXPECT_EQ(r.config.disks[0].path, dir_ + "/other-kernel");
  EXPECT_FALSE(r.config.disks[0].read_only);
  EXPECT_TRUE(r.config.disks[1].read_only);
  EXPECT_TRUE(r.config.disks[2].snapshot);
}

TEST_F(CliTest, SnapshotAppliesToEveryDisk) {
  RunRequest r = run({"--snapshot", dir_ + "/other-kernel", "-d", dir_ + "/other-initrd"});
  ASSERT_EQ(r.config.disks.size(), 2u);
  EXPECT_TRUE(r.config.disks[0].snapshot);
  EXPECT_TRUE(r.config.disks[1].snapshot);
}

TEST_F(CliTest, DiskOptionErrors) {
  EXPECT_NE(error({"-d", dir_ + "/other-kernel,rw"}).find("unknown option 'rw'"),
            std::string::npos);
  EXPECT_NE(error({"-d", ",ro"}).find("missing path"), std::string::npos);
  EXPECT_NE(error({"-d", dir_ + "/nope"}).find("does not exist"), std::string::npos);
}

TEST_F(CliTest, BadLogLevel) {
  EXPECT_NE(error({"--log-level", "loud"}).find("loud"), std::string::npos);
  for (const char* level : {"trace", "debug", "info", "warn", "error", "off"}) {
    EXPECT_EQ(run({"--log-level", level}).log_level, level);
  }
}

// ---- parse_mem_mib ----

TEST(ParseMemMibTest, AcceptedSpellings) {
  const std::pair<const char*, uint64_t> cases[] = {
      {"512", 512},   {"512M", 512},  {"512m", 512}, {"512MiB", 512},
      {"2G", 2048},   {"2g", 2048},   {"2GiB", 2048}, {"1", 1},
      {"65536", 65536},
  };
  for (auto [text, mib] : cases) {
    auto r = parse_mem_mib(text);
    ASSERT_TRUE(r.ok()) << text << ": " << r.error().message();
    EXPECT_EQ(r.value(), mib) << text;
  }
}

TEST(ParseMemMibTest, Rejected) {
  for (const char* text :
       {"", "-1", "-", "1.5G", "G", "abc", "5T", "512K", "512 ", "0x100",
        "2 G", "512MB", "99999999999999999999999", "18446744073709551616"}) {
    EXPECT_FALSE(parse_mem_mib(text).ok()) << '"' << text << '"';
  }
}

TEST(ParseMemMibTest, OverflowIsRejectedNotWrapped) {
  // 2^54 G would be 2^64 MiB: must not wrap to 0.
  EXPECT_FALSE(parse_mem_mib("18014398509481984G").ok());
  EXPECT_FALSE(parse_mem_mib("17179869184G").ok());  // 2^34 G = 2^44 MiB
  EXPECT_FALSE(parse_mem_mib("1099511627777").ok());  // 2^40 + 1 MiB
  auto big = parse_mem_mib("1024G");
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big.value(), 1024u * 1024u);
}

}  // namespace
}  // namespace vmrun
