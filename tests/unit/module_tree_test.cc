// The guest kernel's module tree share (vmm/module_tree.h) and how the
// command line adds it: from a fake image directory, never with a user's
// --9p tag or path, left out with --no-module-tree, and not in the JSON.
#include "vmm/module_tree.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include "tests/support/temp_dir.h"
#include "vmm/cli.h"
#include "vmm/run_report.h"

namespace vmrun {
namespace {

namespace fs = std::filesystem;
using Args = std::vector<std::string>;

constexpr const char* kRelease = "6.1.0-57-amd64";

class ModuleTreeTest : public ::testing::Test {
 protected:
  test_support::TempDir tmp_;
  std::string images_, tree_;

  void SetUp() override {
    images_ = tmp_.path() + "/images";
    tree_ = images_ + "/kernel-root/lib/modules/" + kRelease;
    fs::create_directories(tree_ + "/kernel");
    std::ofstream(tree_ + "/modules.dep") << "kernel/x.ko:\n";
    std::ofstream(images_ + "/kernel.version") << kRelease << "\n";
    std::ofstream(images_ + "/vmlinux") << "x";  // read as a release only
    std::ofstream(images_ + "/initramfs.cpio") << "x";
  }

  Result<CliRequest> parse(const Args& args) {
    return parse_cli(args, {images_, 8192});
  }

  RunRequest run(const Args& args) {
    auto r = parse(args);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
    if (!r.ok()) return {};
    return std::get<RunRequest>(r.value());
  }

  std::string error(const Args& args) {
    auto r = parse(args);
    EXPECT_FALSE(r.ok());
    return r.ok() ? "" : r.error().message();
  }
};

TEST_F(ModuleTreeTest, ShareOfTheReleasesTree) {
  auto share = module_tree_share(images_, std::string(kRelease));
  ASSERT_TRUE(share);
  EXPECT_EQ(share->dir, tree_);
  EXPECT_EQ(share->tag, "vmrun-modules");
  EXPECT_EQ(share->guest_path, "/run/vmrun/modules");
  EXPECT_TRUE(share->read_only);
  EXPECT_TRUE(share->module_tree);
}

TEST_F(ModuleTreeTest, NoShareWithoutATreeOrARelease) {
  EXPECT_FALSE(module_tree_share(images_, std::nullopt));
  EXPECT_FALSE(module_tree_share(
      images_, std::string("6.1.0-41-amd64")));  // another kernel
  EXPECT_FALSE(module_tree_share(images_, std::string("../../../..")));
  fs::remove(tree_ + "/modules.dep");
  EXPECT_FALSE(
      module_tree_share(images_, std::string(kRelease)));  // no depmod yet
  fs::create_directory(tree_ + "/modules.dep");
  EXPECT_FALSE(module_tree_share(images_, std::string(kRelease)));
}

TEST_F(ModuleTreeTest, TheDefaultKernelGetsItsTreeLast) {
  RunRequest r = run({"--9p", tmp_.path() + ",src"});
  EXPECT_EQ(r.config.kernel_release.value_or(""), kRelease);
  ASSERT_EQ(r.config.shares.size(), 2u);
  EXPECT_EQ(r.config.shares[0].tag, "src");
  EXPECT_FALSE(r.config.shares[0].module_tree);
  EXPECT_EQ(r.config.shares[1].tag, "vmrun-modules");
  EXPECT_EQ(r.config.shares[1].dir, tree_);
  EXPECT_TRUE(r.config.shares[1].module_tree);
}

TEST_F(ModuleTreeTest, NoModuleTreeLeavesItOut) {
  RunRequest r = run({"--no-module-tree"});
  EXPECT_EQ(r.config.kernel_release.value_or(""),
            kRelease);  // still known, for the check
  EXPECT_TRUE(r.config.shares.empty());
}

TEST_F(ModuleTreeTest, AnotherKernelWithoutATreeGetsNone) {
  const std::string other = tmp_.path() + "/other/vmlinux";
  fs::create_directories(tmp_.path() + "/other");
  std::ofstream(other) << "x";
  std::ofstream(tmp_.path() + "/other/kernel.version") << "6.1.0-41-amd64\n";
  RunRequest r = run({"-k", other});
  EXPECT_EQ(r.config.kernel_release.value_or(""), "6.1.0-41-amd64");
  EXPECT_TRUE(r.config.shares.empty());
  // Unknown: the reason is kept for the warning.
  std::ofstream(tmp_.path() + "/bare") << "x";
  r = run({"-k", tmp_.path() + "/bare"});
  EXPECT_FALSE(r.config.kernel_release);
  EXPECT_NE(r.config.kernel_release_unknown.find("bare"), std::string::npos);
  EXPECT_TRUE(r.config.shares.empty());
}

TEST_F(ModuleTreeTest, ItsTagAndPlaceAreReserved) {
  EXPECT_EQ(error({"--9p", tmp_.path() + ",vmrun-modules"}),
            "--9p: tag 'vmrun-modules' is reserved for the guest kernel's "
            "module tree");
  EXPECT_NE(error({"--no-module-tree", "--9p", tmp_.path() + ",vmrun-modules"})
                .find("reserved"),
            std::string::npos);
  for (const char* at : {"/run/vmrun/modules", "/run/vmrun", "/run/vmrun/x",
                         "/run", "//run/", "/run/./vmrun"}) {
    EXPECT_NE(error({"--9p", tmp_.path() + ",a,at=" + at})
                  .find("belongs to the guest's init"),
              std::string::npos)
        << at;
  }
  EXPECT_NE(error({"--9p", tmp_.path() + ",a,at=//proc"}).find("/proc belongs"),
            std::string::npos);
  EXPECT_NE(error({"--9p", tmp_.path() + ",a,at=/."}).find("not /"),
            std::string::npos);
  // Beside it is fine.
  EXPECT_EQ(run({"--9p", tmp_.path() + ",a,at=/run/other"})
                .config.shares[0]
                .guest_path,
            "/run/other");
}

TEST_F(ModuleTreeTest, PciLimitCountsItAndSaysSo) {
  Args args;
  for (int i = 0; i < 31; ++i)
    args.insert(args.end(), {"--9p", tmp_.path() + ",t" + std::to_string(i)});
  const std::string message = error(args);
  EXPECT_NE(message.find("too many PCI devices: at most 31"), std::string::npos)
      << message;
  EXPECT_NE(message.find("module tree (--no-module-tree frees it)"),
            std::string::npos)
      << message;
  args.push_back("--no-module-tree");
  EXPECT_EQ(run(args).config.shares.size(), 31u);
  args.insert(args.end(), {"--9p", tmp_.path() + ",t31"});
  EXPECT_EQ(error(args).find("module tree"), std::string::npos);
}

TEST_F(ModuleTreeTest, NotInTheResultJsonShares) {
  RunRequest r = run({"--9p", tmp_.path() + ",src"});
  const std::string json = tmp_.path() + "/r.json";
  ASSERT_TRUE(write_run_report(json, RunReport{}, r.config).ok());
  std::ostringstream got;
  got << std::ifstream(json).rdbuf();
  EXPECT_NE(got.str().find("\"shares\": [" + json_string(tmp_.path()) + "]"),
            std::string::npos)
      << got.str();
  EXPECT_EQ(got.str().find("kernel-root"), std::string::npos) << got.str();
}

}  // namespace
}  // namespace vmrun
