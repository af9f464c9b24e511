// Bad input to the real vmrun binary: each case must exit 125 with exactly
// one "vmrun: ..." line on stderr, nothing on stdout, and return at once
// (no guest ever starts). Runs on any host, with or without usable KVM.
#include <asm/bootparam.h>
#include <elf.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/subprocess.h"
#include "vmm/host_check.h"

#include "tests/support/temp_dir.h"

namespace {

namespace fs = std::filesystem;

constexpr double kDeadlineSeconds = 20;  // hang guard only
constexpr double kQuickSeconds = 5.0;                 // "returns at once"

using Outcome = vmrun::test_support::RunResult;

// Runs vmrun with args and no input. VMRUN_SKIP_HOST_CHECK is removed from
// the environment: the checks under test must run.
Outcome run_vmrun(const std::vector<std::string>& args) {
  unsetenv("VMRUN_SKIP_HOST_CHECK");
  std::vector<std::string> argv{VMRUN_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return vmrun::test_support::run_program(argv, "", kDeadlineSeconds);
}

std::string describe(const Outcome& o) {
  std::ostringstream s;
  s << "exit " << o.exit_code << (o.timed_out ? " (timed out)" : "") << " after "
    << o.seconds << " s\nstdout: [" << o.out << "]\nstderr: [" << o.err << "]";
  return s.str();
}

// The contract for every bad input; `mentions` must appear in the message.
void expect_usage_failure(const Outcome& o, const std::string& mentions) {
  SCOPED_TRACE(describe(o));
  EXPECT_FALSE(o.timed_out);
  EXPECT_EQ(o.exit_code, 125);
  EXPECT_EQ(o.out, "");
  EXPECT_EQ(o.err.rfind("vmrun: ", 0), 0u) << "stderr must start with 'vmrun: '";
  EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1)
      << "stderr must be exactly one line";
  EXPECT_FALSE(o.err.empty() || o.err.back() != '\n') << "line must end in \\n";
  EXPECT_NE(o.err.find(mentions), std::string::npos)
      << "message should mention '" << mentions << "'";
  EXPECT_LT(o.seconds, kQuickSeconds) << "took too long: did a guest start?";
}

// Does this host's KVM look able to boot Linux (vmrun's own check)?
bool host_kvm_can_boot_linux() { return vmrun::check_host_can_boot_linux().ok(); }

class BadInputTest : public ::testing::Test {
 protected:
  vmrun::test_support::TempDir tmp_;
  void SetUp() override {
    dir_ = tmp_.path();
    kernel_ = dir_ + "/vmlinux";
    write_tiny_vmlinux(kernel_);
    initrd_ = dir_ + "/initramfs.cpio";
    std::ofstream(initrd_).close();
    text_ = dir_ + "/notes.txt";
    std::ofstream(text_) << "this is a text file, not a kernel\n";
    fake_kvm_ = dir_ + "/kvm";
    std::ofstream(fake_kvm_).close();
  }

  // Just enough ELF for vmrun's format check: a 64-bit x86-64 executable
  // with one PT_LOAD at 16 MiB holding a hlt loop.
  static void write_tiny_vmlinux(const std::string& path) {
    Elf64_Ehdr eh{};
    std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_EXEC;
    eh.e_machine = EM_X86_64;
    eh.e_version = EV_CURRENT;
    eh.e_entry = 0x1000000;
    eh.e_phoff = sizeof eh;
    eh.e_ehsize = sizeof eh;
    eh.e_phentsize = sizeof(Elf64_Phdr);
    eh.e_phnum = 1;
    Elf64_Phdr ph{};
    ph.p_type = PT_LOAD;
    ph.p_offset = 0x1000;
    ph.p_paddr = ph.p_vaddr = 0x1000000;
    ph.p_filesz = ph.p_memsz = 3;
    std::vector<char> file(0x1003, 0);
    std::memcpy(file.data(), &eh, sizeof eh);
    std::memcpy(file.data() + sizeof eh, &ph, sizeof ph);
    const char code[] = {'\xf4', '\xeb', '\xfd'};  // hlt; jmp .-1
    std::memcpy(file.data() + 0x1000, code, 3);
    std::ofstream(path, std::ios::binary).write(file.data(), file.size());
  }

  // Valid kernel and initrd, plus extra args.
  std::vector<std::string> with_images(std::vector<std::string> extra) const {
    std::vector<std::string> args = {"-k", kernel_, "-i", initrd_};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  std::string dir_, kernel_, initrd_, text_, fake_kvm_;
};

TEST_F(BadInputTest, MissingKernel) {
  std::string missing = dir_ + "/no-such-vmlinux";
  expect_usage_failure(run_vmrun({"-k", missing, "-i", initrd_, "--", "true"}),
                       missing);
}

TEST_F(BadInputTest, UnreadableKernel) {
  if (geteuid() == 0) {
    GTEST_SKIP() << "running as root, which can read a mode-000 file anyway";
  }
  ASSERT_EQ(chmod(kernel_.c_str(), 0), 0);
  expect_usage_failure(run_vmrun(with_images({"--", "true"})), "not readable");
}

TEST_F(BadInputTest, KernelThatIsNotAKernel) {
  expect_usage_failure(run_vmrun({"-k", text_, "-i", initrd_, "--", "true"}),
                       "not a Linux kernel");
}

TEST_F(BadInputTest, KernelIsADirectory) {
  Outcome o = run_vmrun({"-k", dir_, "-i", initrd_, "--", "true"});
  expect_usage_failure(o, dir_);
}

TEST_F(BadInputTest, MissingInitrd) {
  std::string missing = dir_ + "/no-such-initrd";
  expect_usage_failure(run_vmrun({"-k", kernel_, "-i", missing}), missing);
}

TEST_F(BadInputTest, MissingJobImage) {
  std::string missing = dir_ + "/no-such-job.img";
  expect_usage_failure(run_vmrun({"-k", kernel_, "-i", initrd_, missing}), missing);
}

TEST_F(BadInputTest, MissingExtraDisk) {
  std::string missing = dir_ + "/no-such-disk.img";
  expect_usage_failure(run_vmrun({"-k", kernel_, "-i", initrd_, "--disk", missing}),
                       missing);
}

TEST_F(BadInputTest, UnknownDiskOption) {
  expect_usage_failure(run_vmrun({"-k", kernel_, "-i", initrd_, "--disk",
                                  text_ + ",bogus"}),
                       "bogus");
}

TEST_F(BadInputTest, TwoJobImages) {
  expect_usage_failure(run_vmrun({"-k", kernel_, "-i", initrd_, text_, text_}),
                       "one job image");
}

TEST_F(BadInputTest, MemoryTooSmall) {
  expect_usage_failure(run_vmrun(with_images({"-m", "1"})), "too small");
}

TEST_F(BadInputTest, MemoryMoreThanTheHostHas) {
  expect_usage_failure(run_vmrun(with_images({"-m", "99999999"})), "RAM");
}

TEST_F(BadInputTest, ZeroCpus) {
  expect_usage_failure(run_vmrun(with_images({"-c", "0"})), "cpus");
}

TEST_F(BadInputTest, UnknownFlag) {
  expect_usage_failure(run_vmrun(with_images({"--frobnicate"})), "frobnicate");
}

// `vmrun uname` must be refused, not run a shell. (/nonexistent KVM device:
// should the argument be accepted, no guest can start on any host.)
TEST_F(BadInputTest, CommandWithoutDashDash) {
  expect_usage_failure(
      run_vmrun(with_images({"--kvm-device", "/nonexistent", "uname"})), "--");
}

TEST_F(BadInputTest, ShareOfMissingDirectory) {
  std::string missing = dir_ + "/no-such-dir";
  expect_usage_failure(run_vmrun(with_images({"--9p", missing + ",src", "--", "true"})),
                       "'" + missing + "' is not a directory");
}

TEST_F(BadInputTest, ShareOfAFile) {
  expect_usage_failure(run_vmrun(with_images({"--9p", text_ + ",src", "--", "true"})),
                       "is not a directory");
}

TEST_F(BadInputTest, ShareWithBadTags) {
  for (const std::string& tag : std::vector<std::string>{"", "has/slash", "has space", std::string(32, 'a')}) {
    expect_usage_failure(run_vmrun(with_images({"--9p", dir_ + "," + tag, "--", "true"})),
                         "--9p");
  }
}

TEST_F(BadInputTest, ShareWithBadOptions) {
  expect_usage_failure(run_vmrun(with_images({"--9p", dir_ + ",src,rw", "--", "true"})),
                       "unknown option 'rw'");
  expect_usage_failure(run_vmrun(with_images({"--9p", dir_ + ",src,at=rel", "--", "true"})),
                       "must be absolute");
  expect_usage_failure(run_vmrun(with_images({"--9p", dir_ + ",src,at=/a/../b", "--", "true"})),
                       "without '..'");
  expect_usage_failure(run_vmrun(with_images({"--9p", dir_ + ",src,at=/proc/x", "--", "true"})),
                       "belongs to the guest's init");
}

TEST_F(BadInputTest, ShareTagOrPathTwice) {
  expect_usage_failure(run_vmrun(with_images({"--9p", dir_ + ",a", "--9p", dir_ + ",a", "--",
                                              "true"})),
                       "tag 'a' used twice");
  expect_usage_failure(run_vmrun(with_images({"--9p", dir_ + ",a,at=/x", "--9p",
                                              dir_ + ",b,at=/x", "--", "true"})),
                       "two shares mounted at /x");
}

TEST_F(BadInputTest, NetworkOptionsThatMakeNoSense) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"tapif=tap0", "needs mode=tap"},
      {"mode=user", "only mode=tap"},
      {"mode=tap,vhost=yes", "use vhost=1 or vhost=0"},
      {"mode=tap,mac=zz:00:00:00:00:01", "not a MAC address"},
      {"mode=tap,mac=01:00:00:00:00:01", "multicast"},
      {"mode=tap,ip=10.0.0.300/24", "not an IPv4 ADDR/PREFIX"},
      {"mode=tap,ip=10.0.0.2", "not an IPv4 ADDR/PREFIX"},
      {"mode=tap,ip=10.0.0.2/33", "not an IPv4 ADDR/PREFIX"},
      {"mode=tap,gw=10.0.0.1", "gw= needs ip="},
      {"mode=tap,ip=10.0.0.2/24,dhcp", "exclude each other"},
      {"mode=tap,tapif=tap0,host_ip=10.0.0.1/24", "host_ip= is for the tap vmrun creates"},
      {"mode=tap,tapif=a/b", "not an interface name"},
      {"mode=tap,color=blue", "unknown option"},
  };
  for (const auto& [opt, mentions] : cases) {
    expect_usage_failure(run_vmrun(with_images({"-n", opt, "--", "true"})), mentions);
  }
}

TEST_F(BadInputTest, SameTapTwice) {
  expect_usage_failure(run_vmrun(with_images({"-n", "mode=tap,tapif=t0", "-n",
                                              "mode=tap,tapif=t0", "--", "true"})),
                       "tap t0 given twice");
}

// CI reads the JSON even when vmrun refused to start: it says why.
TEST_F(BadInputTest, ResultJsonIsWrittenForASetupError) {
  const std::string json = dir_ + "/result.json";
  expect_usage_failure(
      run_vmrun(with_images({"--result-json", json, "--9p", dir_ + "/missing,t", "--", "true"})),
      "is not a directory");
  std::stringstream got;
  got << std::ifstream(json).rdbuf();
  EXPECT_NE(got.str().find("\"exit_status\": 125,"), std::string::npos) << got.str();
  EXPECT_NE(got.str().find("\"reason\": \"error\","), std::string::npos) << got.str();
}

TEST_F(BadInputTest, ResultJsonForAMissingKernelSaysWhy) {
  const std::string json = dir_ + "/result.json";
  const std::string missing = dir_ + "/no-vmlinux";
  expect_usage_failure(run_vmrun({"--result-json", json, "-k", missing, "-i", initrd_, "--",
                                  "true"}),
                       missing);
  std::stringstream got;
  got << std::ifstream(json).rdbuf();
  EXPECT_NE(got.str().find("\"exit_status\": 125,"), std::string::npos) << got.str();
  EXPECT_NE(got.str().find(missing), std::string::npos) << got.str();
}

TEST_F(BadInputTest, MalformedPciAddress) {
  for (const char* bdf : {"01:00", "0000:01:00.8", "0000:01:20.0", "0000:01:00.0x", "x"}) {
    expect_usage_failure(run_vmrun(with_images({"--vfio-pci", bdf, "--", "true"})),
                         "is not a PCI address");
  }
}

TEST_F(BadInputTest, PciDeviceThatDoesNotExist) {
  expect_usage_failure(
      run_vmrun(with_images({"--vfio-pci", "0000:7e:1f.7", "--", "true"})),
      "--vfio-pci 0000:7e:1f.7: no such PCI device");
}

TEST_F(BadInputTest, SamePciDeviceTwice) {
  expect_usage_failure(run_vmrun(with_images({"--vfio-pci", "0000:00:00.0", "--vfio-pci",
                                              "00:00.0", "--", "true"})),
                       "given twice");
}

// Any host device a host driver owns (virtio, a NIC, ...) must be refused
// with the commands that would hand it to vfio-pci; vmrun changes nothing.
TEST_F(BadInputTest, PciDeviceOwnedByAHostDriver) {
  std::string bdf, driver;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/sys/bus/pci/devices", ec)) {
    auto link = fs::read_symlink(e.path() / "driver", ec);
    if (!ec && link.filename() != "vfio-pci") {
      bdf = e.path().filename().string();
      driver = link.filename().string();
      break;
    }
  }
  if (bdf.empty()) GTEST_SKIP() << "no PCI device bound to a host driver here";
  Outcome o = run_vmrun(with_images({"--vfio-pci", bdf, "--", "true"}));
  expect_usage_failure(o, "bound to " + driver + ", not vfio-pci");
  EXPECT_NE(o.err.find("echo " + bdf + " > /sys/bus/pci/devices/" + bdf + "/driver/unbind"),
            std::string::npos);
  EXPECT_NE(o.err.find("/sys/bus/pci/drivers/vfio-pci/new_id"), std::string::npos);
  auto still = fs::read_symlink("/sys/bus/pci/devices/" + bdf + "/driver", ec);
  EXPECT_EQ(still.filename().string(), driver) << "vmrun must not rebind anything";
}

TEST_F(BadInputTest, MissingKvmDevice) {
  expect_usage_failure(
      run_vmrun(with_images({"--kvm-device", "/nonexistent", "--", "true"})),
      "KVM");
}

// The kernel's format is checked before anything about KVM, so a bad kernel
// is reported as such even on a host without KVM.
TEST_F(BadInputTest, KernelFormatIsCheckedBeforeKvm) {
  expect_usage_failure(run_vmrun({"-k", text_, "-i", initrd_, "--kvm-device",
                                  "/nonexistent", "--", "true"}),
                       "not a Linux kernel");
}

TEST_F(BadInputTest, HostWhoseKvmCannotBootLinux) {
  if (host_kvm_can_boot_linux()) {
    GTEST_SKIP() << "this host's KVM can boot Linux (vmx/svm and no kvm_pvm); "
                    "the refusal is only seen on a PVM or flagless host";
  }
  // The KVM device only has to exist and be accessible: the host check
  // comes before it is opened.
  expect_usage_failure(
      run_vmrun(with_images({"--kvm-device", fake_kvm_, "--", "true"})),
      "tests/lab/run");
}

// A job image whose DKMS modules were built for another kernel: refused on
// the host, before anything about KVM (the missing device would stop any
// guest anyway), with the one line that says what to do.
class JobKernelTest : public BadInputTest {
 protected:
  void SetUp() override {
    BadInputTest::SetUp();
    for (const char* dir : {"/sbin/", "/usr/sbin/"}) {
      if (access((std::string(dir) + "mkfs.ext4").c_str(), X_OK) == 0) mkfs_ = std::string(dir) + "mkfs.ext4";
    }
    if (mkfs_.empty()) GTEST_SKIP() << "no mkfs.ext4 (e2fsprogs)";
    bzimage_ = dir_ + "/bzImage";
    write_bzimage(bzimage_, "6.1.0-41-amd64 (test@vmrun) #1 SMP");
  }

  // A bzImage header the format check accepts, whose version string is
  // `version` (the setup header's kernel_version points at it).
  static void write_bzimage(const std::string& path, const std::string& version) {
    setup_header hdr{};
    hdr.setup_sects = 4;
    hdr.boot_flag = 0xaa55;
    hdr.header = 0x53726448;  // "HdrS"
    hdr.version = 0x020f;
    hdr.xloadflags = 0x1;       // XLF_KERNEL_64
    hdr.kernel_version = 0x400;  // the string is at 0x400 + 0x200
    std::vector<char> b(6 * 512, 0);
    std::memcpy(b.data() + 0x1f1, &hdr, sizeof hdr);
    std::memcpy(b.data() + 0x600, version.c_str(), version.size() + 1);
    std::ofstream(path, std::ios::binary).write(b.data(), static_cast<std::streamsize>(b.size()));
  }

  // An ext4 job image with `run` and, unless empty, /.vmrun/kernel.
  std::string job_image(const std::string& name, const std::string& kernel_line) {
    const std::string tree = dir_ + "/" + name + ".d";
    fs::create_directories(tree + "/.vmrun");
    std::ofstream(tree + "/run") << "#!/bin/sh\n";
    if (!kernel_line.empty()) std::ofstream(tree + "/.vmrun/kernel") << kernel_line << "\n";
    const std::string img = dir_ + "/" + name + ".img";
    Outcome o = vmrun::test_support::run_program({mkfs_, "-q", "-F", "-d", tree, img, "16M"});
    EXPECT_EQ(o.exit_code, 0) << o.err;
    return img;
  }

  std::string mkfs_, bzimage_;
};

TEST_F(JobKernelTest, ModulesForAnotherKernelAreRefusedBeforeAnyGuest) {
  const std::string img = job_image("job", "6.1.0-57-amd64");
  Outcome o = run_vmrun({"-k", bzimage_, "-i", initrd_, "--kvm-device", "/nonexistent", img});
  expect_usage_failure(o, "");
  EXPECT_EQ(o.err, "vmrun: " + img +
                       "'s modules were built for 6.1.0-57-amd64; this guest kernel is "
                       "6.1.0-41-amd64: rebuild with vmrun-mkjob --dkms, or boot that kernel\n");
}

// The image step's layout: vmlinux with kernel.version beside it.
TEST_F(JobKernelTest, ReleaseFromKernelVersionBesideVmlinux) {
  fs::create_directories(dir_ + "/images");
  write_tiny_vmlinux(dir_ + "/images/vmlinux");
  std::ofstream(dir_ + "/images/kernel.version") << "6.1.0-40-amd64\n";
  const std::string img = job_image("job", "6.1.0-57-amd64");
  Outcome o = run_vmrun({"-k", dir_ + "/images/vmlinux", "-i", initrd_, img, "--", "true"});
  expect_usage_failure(o, "this guest kernel is 6.1.0-40-amd64: rebuild with vmrun-mkjob --dkms");
}

TEST_F(JobKernelTest, ResultJsonSaysWhy) {
  const std::string img = job_image("job", "6.1.0-57-amd64");
  const std::string json = dir_ + "/result.json";
  Outcome o = run_vmrun({"--result-json", json, "-k", bzimage_, "-i", initrd_, img});
  expect_usage_failure(o, "modules were built for 6.1.0-57-amd64");
  std::stringstream got;
  got << std::ifstream(json).rdbuf();
  EXPECT_NE(got.str().find("\"exit_status\": 125,"), std::string::npos) << got.str();
  EXPECT_NE(got.str().find("\"reason\": \"error\","), std::string::npos) << got.str();
  EXPECT_NE(got.str().find("this guest kernel is 6.1.0-41-amd64: rebuild with vmrun-mkjob "
                           "--dkms, or boot that kernel\""),
            std::string::npos)
      << got.str();
}

// Built for this kernel, or no kernel file, or not ext4 at all: the check
// passes, and the run goes on to the next thing that stops it here (no KVM
// device).
TEST_F(JobKernelTest, MatchingMissingOrUnreadableGoOn) {
  for (const std::string& img :
       {job_image("same", "6.1.0-41-amd64"), job_image("plain", ""), text_}) {
    Outcome o = run_vmrun({"-k", bzimage_, "-i", initrd_, "--kvm-device", "/nonexistent", img});
    expect_usage_failure(o, "/nonexistent does not exist");
  }
}

// A kernel whose release cannot be told: a warning, and on.
TEST_F(JobKernelTest, UnknownReleaseWarns) {
  const std::string img = job_image("job", "6.1.0-57-amd64");
  // Not named vmlinux: no kernel.version beside it would count.
  const std::string kernel = dir_ + "/my-kernel";
  write_tiny_vmlinux(kernel);
  Outcome o = run_vmrun({"-k", kernel, "-i", initrd_, "--kvm-device", "/nonexistent", img});
  SCOPED_TRACE(describe(o));
  EXPECT_EQ(o.exit_code, 125);
  EXPECT_NE(o.err.find("vmrun: [warning] " + img + "'s modules were built for 6.1.0-57-amd64; "
                       "this guest kernel's release is unknown"),
            std::string::npos);
  EXPECT_NE(o.err.find("/nonexistent does not exist"), std::string::npos);
}

TEST_F(JobKernelTest, BrokenKernelFileIsRefused) {
  const std::string tree = dir_ + "/bad.d";
  fs::create_directories(tree + "/.vmrun/kernel");
  std::ofstream(tree + "/run") << "#!/bin/sh\n";
  const std::string img = dir_ + "/bad.img";
  ASSERT_EQ(vmrun::test_support::run_program({mkfs_, "-q", "-F", "-d", tree, img, "16M"}).exit_code,
            0);
  expect_usage_failure(
      run_vmrun({"-k", bzimage_, "-i", initrd_, "--kvm-device", "/nonexistent", img}),
      img + ": /.vmrun/kernel must be a regular file of under 256 bytes");
}

TEST_F(BadInputTest, ModuleTreeTagIsReserved) {
  expect_usage_failure(run_vmrun(with_images({"--9p", dir_ + ",vmrun-modules", "--", "true"})),
                       "--9p: tag 'vmrun-modules' is reserved for the guest kernel's module tree");
  expect_usage_failure(
      run_vmrun(with_images({"--9p", dir_ + ",m,at=/run/vmrun/modules", "--", "true"})),
      "belongs to the guest's init");
}

TEST_F(BadInputTest, HelpGoesToStdoutAndExitsZero) {
  Outcome o = run_vmrun({"--help"});
  SCOPED_TRACE(describe(o));
  EXPECT_EQ(o.exit_code, 0);
  EXPECT_NE(o.out.find("usage: vmrun"), std::string::npos);
  EXPECT_NE(o.out.find("--kernel"), std::string::npos);
  EXPECT_EQ(o.err, "");
  EXPECT_LT(o.seconds, kQuickSeconds);
}

TEST_F(BadInputTest, VersionGoesToStdoutAndExitsZero) {
  Outcome o = run_vmrun({"--version"});
  SCOPED_TRACE(describe(o));
  EXPECT_EQ(o.exit_code, 0);
  EXPECT_EQ(o.out.rfind("vmrun ", 0), 0u);
  EXPECT_EQ(o.err, "");
}

}  // namespace
