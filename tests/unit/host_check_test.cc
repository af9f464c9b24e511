// check_host_can_boot_linux against fake /proc/cpuinfo and /sys/module trees.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "vmm/host_check.h"

#include "tests/support/temp_dir.h"

namespace vmrun {
namespace {

namespace fs = std::filesystem;

constexpr const char* kCpuinfoHead =
    "processor\t: 0\n"
    "vendor_id\t: GenuineIntel\n"
    "model name\t: Some CPU\n";
constexpr const char* kBaseFlags =
    "flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca "
    "cmov pat pse36 clflush mmx fxsr sse sse2 ss ht syscall nx lm "
    "constant_tsc rep_good nopl xtopology cpuid pni pclmulqdq";

class HostCheckTest : public ::testing::Test {
 protected:
  vmrun::test_support::TempDir tmp_;
  void SetUp() override {
    dir_ = tmp_.path();
    paths_.cpuinfo = dir_ + "/cpuinfo";
    paths_.modules = dir_ + "/module";
    fs::create_directories(paths_.modules + "/kvm");
  }

  void write_cpuinfo(const std::string& extra_flags, int cpus = 2) {
    std::ofstream out(paths_.cpuinfo);
    for (int i = 0; i < cpus; ++i) {
      out << kCpuinfoHead << kBaseFlags << extra_flags << "\n"
          << "bogomips\t: 4000.00\n\n";
    }
  }
  void load_kvm_pvm() { fs::create_directories(paths_.modules + "/kvm_pvm"); }

  std::string dir_;
  HostPaths paths_;
};

TEST_F(HostCheckTest, IntelVmxIsOk) {
  write_cpuinfo(" vmx ept vpid");
  auto r = check_host_can_boot_linux(paths_);
  EXPECT_TRUE(r.ok()) << r.error().message();
}

TEST_F(HostCheckTest, AmdSvmIsOk) {
  write_cpuinfo(" svm npt");
  auto r = check_host_can_boot_linux(paths_);
  EXPECT_TRUE(r.ok()) << r.error().message();
}

TEST_F(HostCheckTest, FlagAtEndOfLineIsFound) {
  write_cpuinfo(" svm");
  EXPECT_TRUE(check_host_can_boot_linux(paths_).ok());
}

TEST_F(HostCheckTest, NoVirtualizationFlagFails) {
  write_cpuinfo(" hypervisor avx2");
  auto r = check_host_can_boot_linux(paths_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("tests/lab/run"), std::string::npos)
      << r.error().message();
  EXPECT_NE(r.error().message().find("vmx"), std::string::npos);
}

TEST_F(HostCheckTest, SimilarWordsAreNotFlags) {
  // "vmx" only as part of other words or outside the flags line.
  std::ofstream(paths_.cpuinfo)
      << kCpuinfoHead << "model name\t: vmx svm edition\n"
      << kBaseFlags << " vmx_ept svmx\n"
      << "vmx flags\t: vnmi preemption_timer\n";
  EXPECT_FALSE(check_host_can_boot_linux(paths_).ok());
}

TEST_F(HostCheckTest, PvmFailsEvenWithFlag) {
  write_cpuinfo(" vmx");
  load_kvm_pvm();
  auto r = check_host_can_boot_linux(paths_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("PVM"), std::string::npos)
      << r.error().message();
  EXPECT_NE(r.error().message().find("tests/lab/run"), std::string::npos)
      << r.error().message();
}

TEST_F(HostCheckTest, PvmWithoutFlagFails) {
  write_cpuinfo("");
  load_kvm_pvm();
  auto r = check_host_can_boot_linux(paths_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("tests/lab/run"), std::string::npos);
}

TEST_F(HostCheckTest, OtherKvmModulesDoNotMatter) {
  write_cpuinfo(" vmx");
  fs::create_directories(paths_.modules + "/kvm_intel");
  fs::create_directories(paths_.modules + "/kvm_pvm_helper");
  EXPECT_TRUE(check_host_can_boot_linux(paths_).ok());
}

TEST_F(HostCheckTest, UnreadableCpuinfoFails) {
  // No cpuinfo file at all: we cannot tell, so we do not claim KVM works.
  auto r = check_host_can_boot_linux(paths_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("tests/lab/run"), std::string::npos);
}

}  // namespace
}  // namespace vmrun
