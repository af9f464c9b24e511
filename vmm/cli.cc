#include "vmm/cli.h"

#include "vmm/gdb/server.h"
#include "vmm/kernel_release.h"
#include "vmm/module_tree.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

namespace po = boost::program_options;

namespace vmrun {
namespace {

constexpr uint64_t kMinMemMib = 64;  // a Debian kernel and its initramfs
constexpr size_t kMaxDisks = 16;     // vda..vdp, each a PCI slot
constexpr size_t kMaxPciDevices = 31;  // bus 0 minus the host bridge
constexpr const char* kUsage =
    "usage: vmrun [OPTIONS] [JOB.IMG] [-- COMMAND [ARGS...]]\n"
    "Boots a small VM, runs the job in JOB.IMG (an image from vmrun-mkjob)\n"
    "or COMMAND (a shell if neither) and exits with its status.\n";

po::options_description make_options() {
  po::options_description opts("Options");
  opts.add_options()
      ("help,h", "show this help and exit")
      ("version", "show the version and exit")
      ("kernel,k", po::value<std::string>(),
       "guest kernel: bzImage or ELF vmlinux (default: the image step's)")
      ("initrd,i", po::value<std::string>(),
       "initramfs (default: the image step's, with vmrun's init)")
      ("params,p", po::value<std::string>(),
       "extra kernel command line, appended to vmrun's defaults")
      ("mem,m", po::value<std::string>(),
       "guest RAM in MiB, or with a suffix: 512M, 2G (default 256)")
      ("cpus,c", po::value<int>(), "number of vCPUs (default 1)")
      ("disk,d", po::value<std::vector<std::string>>()->composing(),
       "attach a raw disk image as the next virtio-blk disk: PATH[,ro]"
       "[,snapshot] (repeatable)")
      ("network,n", po::value<std::vector<std::string>>()->composing(),
       "a virtio-net device on a tap: mode=tap[,tapif=NAME][,vhost=1][,mac=MAC]"
       "[,ip=ADDR/PREFIX][,gw=ADDR][,dhcp][,host_ip=ADDR/PREFIX] (repeatable)")
      ("9p", po::value<std::vector<std::string>>()->composing(),
       "share a host directory over virtio-9p: DIR,TAG[,ro][,at=GUESTPATH]; guest "
       "init mounts it at GUESTPATH (default /mnt/TAG) (repeatable)")
      ("vfio-pci", po::value<std::vector<std::string>>()->composing(),
       "pass a host PCI function through to the guest: DOMAIN:BUS:DEV.FN as "
       "lspci -D prints it; it must be bound to vfio-pci (repeatable)")
      ("rootfs", po::value<std::string>(),
       "run the job in this userland: an ext4 image, a directory, or an OCI or "
       "docker image archive (PATH[:NAME:TAG]); PATH,rw writes an ext4 image through")
      ("no-module-tree", "leave out the guest kernel's module tree (shared "
       "read-only by default, for modprobe and a job's DKMS modules)")
      ("snapshot", "every disk, the job image too, gets a throwaway overlay: "
       "the guest may write, the files stay unchanged")
      ("timeout", po::value<double>(),
       "stop the guest after SECONDS of wall time; exit status 124")
      ("log", po::value<std::string>(),
       "also write the guest's console to FILE (complete, also when the guest dies)")
      ("result-json", po::value<std::string>(),
       "write the run's outcome to FILE as JSON: exit status, reason, times, devices")
      ("interactive", "-it: the terminal in raw mode, every key to the guest's "
       "console (Ctrl-C too); Ctrl-A x quits. The default when stdin and stdout "
       "are terminals")
      ("no-interactive", "never raw mode, even on a terminal")
      ("gdb", po::value<std::string>(),
       "a gdb stub for the guest kernel on tcp::PORT (localhost), tcp:HOST:PORT "
       "or PORT; the guest boots with nokaslr so vmlinux's symbols match")
      ("gdb-wait", "with --gdb: the guest stays stopped before its first "
       "instruction until gdb continues")
      ("log-level", po::value<std::string>()->default_value("warn"),
       "trace, debug, info, warn, error or off")
      ("kvm-device", po::value<std::string>()->default_value("/dev/kvm"),
       "the KVM device to open");
  return opts;
}

bool readable(const std::string& path) { return access(path.c_str(), R_OK) == 0; }

Result<void> check_file(const std::string& what, const std::string& path) {
  if (access(path.c_str(), F_OK) != 0) {
    return Error(what + " '" + path + "' does not exist");
  }
  if (!readable(path)) return Error(what + " '" + path + "' is not readable");
  return ok();
}

Result<void> resolve_images(VmConfig& c, const po::variables_map& vm,
                            const CliDefaults& d) {
  if (vm.count("kernel")) {
    c.kernel = vm["kernel"].as<std::string>();
  } else {
    c.kernel = d.image_dir + "/vmlinux";
    if (!readable(c.kernel)) {
      return Error("no default guest kernel at " + c.kernel +
                   ": run ./setup first, or pass -k KERNEL");
    }
  }
  VMRUN_TRY(check_file("kernel", c.kernel));
  if (vm.count("initrd")) {
    c.initrd = vm["initrd"].as<std::string>();
    VMRUN_TRY(check_file("initrd", c.initrd));
  } else {
    c.initrd = d.image_dir + "/initramfs.cpio";
    if (!readable(c.initrd)) {
      return Error("no default initramfs at " + c.initrd +
                   ": run ./setup first, or pass -i INITRD");
    }
  }
  return ok();
}

Result<RunRequest> to_request(const po::variables_map& vm,
                              std::vector<std::string> command,
                              const CliDefaults& d) {
  RunRequest r;
  VmConfig& c = r.config;
  VMRUN_TRY(resolve_images(c, vm, d));
  if (auto release = kernel_release(c.kernel)) {
    c.kernel_release = std::move(release).value();
  } else {
    c.kernel_release_unknown = release.error().message();
  }
  if (vm.count("params")) c.params = vm["params"].as<std::string>();
  if (vm.count("job")) {
    c.disks.push_back({vm["job"].as<std::string>(), false, false});
    c.has_job_image = true;
  }
  if (vm.count("disk")) {
    for (const auto& text : vm["disk"].as<std::vector<std::string>>()) {
      c.disks.push_back(VMRUN_TRY(parse_disk(text)));
    }
  }
  if (c.disks.size() > kMaxDisks) {
    return Error("at most " + std::to_string(kMaxDisks) + " disks");
  }
  for (auto& disk : c.disks) {
    if (vm.count("snapshot")) disk.snapshot = true;
    VMRUN_TRY(check_file("disk", disk.path));
  }
  if (vm.count("9p")) {
    for (const auto& text : vm["9p"].as<std::vector<std::string>>()) {
      ShareConfig share = VMRUN_TRY(parse_share(text));
      for (const auto& other : c.shares) {
        if (other.tag == share.tag) return Error("--9p: tag '" + share.tag + "' used twice");
        if (other.guest_path == share.guest_path) {
          return Error("--9p: two shares mounted at " + share.guest_path);
        }
      }
      c.shares.push_back(std::move(share));
    }
  }
  // After the user's shares, so their PCI slots do not depend on it; its
  // tag and guest path are reserved, so it cannot clash with them.
  bool module_tree = false;
  if (!vm.count("no-module-tree")) {
    if (auto share = module_tree_share(d.image_dir, c.kernel_release)) {
      c.shares.push_back(std::move(*share));
      module_tree = true;
    }
  }
  if (vm.count("network")) {
    for (const auto& text : vm["network"].as<std::vector<std::string>>()) {
      NetConfig net = VMRUN_TRY(parse_network(text, c.nets.size()));
      for (const auto& other : c.nets) {
        if (!net.tapif.empty() && other.tapif == net.tapif) {
          return Error("-n: tap " + net.tapif + " given twice");
        }
        if (other.mac == net.mac) return Error("-n: two devices with one MAC address");
      }
      c.nets.push_back(std::move(net));
    }
  }
  if (vm.count("vfio-pci")) {
    for (const auto& text : vm["vfio-pci"].as<std::vector<std::string>>()) {
      auto address = devices::vfio::PciAddress::parse(text);
      if (!address) return address.error().context("--vfio-pci");
      if (std::find(c.vfio.begin(), c.vfio.end(), *address) != c.vfio.end()) {
        return Error("--vfio-pci " + address->to_string() + " given twice");
      }
      c.vfio.push_back(*address);
    }
  }
  if (c.disks.size() + c.shares.size() + c.nets.size() + c.vfio.size() > kMaxPciDevices) {
    return Error("too many PCI devices: at most " + std::to_string(kMaxPciDevices) +
                 " disks, --9p shares, -n devices and --vfio-pci functions together" +
                 (module_tree ? std::string(", and one slot holds the guest kernel's module "
                                            "tree (--no-module-tree frees it)")
                              : std::string()));
  }
  if (vm.count("mem")) {
    c.mem_mib = VMRUN_TRY(parse_mem_mib(vm["mem"].as<std::string>()));
  }
  if (c.mem_mib < kMinMemMib) {
    return Error("--mem " + std::to_string(c.mem_mib) +
                 " MiB is too small; the guest needs at least " +
                 std::to_string(kMinMemMib) + " MiB");
  }
  if (c.mem_mib > d.host_mem_mib) {
    return Error("--mem " + std::to_string(c.mem_mib) +
                 " MiB is more than this host's " +
                 std::to_string(d.host_mem_mib) + " MiB of RAM");
  }
  if (vm.count("cpus")) c.cpus = vm["cpus"].as<int>();
  if (c.cpus < 1) return Error("--cpus must be at least 1");
  if (vm.count("timeout")) {
    double t = vm["timeout"].as<double>();
    if (!(t > 0) || !std::isfinite(t)) {
      return Error("--timeout must be a positive number of seconds");
    }
    c.timeout_seconds = t;
  }
  c.kvm_device = vm["kvm-device"].as<std::string>();
  r.log_level = vm["log-level"].as<std::string>();
  if (vm.count("log")) r.log_file = vm["log"].as<std::string>();
  if (vm.count("result-json")) r.result_json = vm["result-json"].as<std::string>();
  if (vm.count("log") && r.log_file.empty()) return Error("--log needs a file name");
  if (vm.count("result-json") && r.result_json.empty()) {
    return Error("--result-json needs a file name");
  }
  static const char* kLevels[] = {"trace", "debug", "info", "warn",
                                  "error", "off"};
  if (std::find(std::begin(kLevels), std::end(kLevels), r.log_level) ==
      std::end(kLevels)) {
    return Error("--log-level: unknown level '" + r.log_level + "'");
  }
  if (vm.count("interactive") && vm.count("no-interactive")) {
    return Error("--interactive and --no-interactive together");
  }
  if (vm.count("gdb")) {
    c.gdb = vm["gdb"].as<std::string>();
    VMRUN_TRY(gdb::parse_listen_address(c.gdb));
  }
  if (vm.count("gdb-wait")) {
    if (c.gdb.empty()) return Error("--gdb-wait needs --gdb");
    c.gdb_wait = true;
  }
  if (vm.count("interactive")) r.interactive = Interactive::kOn;
  if (vm.count("no-interactive")) r.interactive = Interactive::kOff;
  c.command = std::move(command);
  if (vm.count("rootfs")) {
    c.rootfs.spec = vm["rootfs"].as<std::string>();
    if (c.rootfs.spec.empty()) return Error("--rootfs needs an image");
  }
  return r;
}

}  // namespace

Result<DiskConfig> parse_disk(const std::string& text) {
  DiskConfig disk;
  size_t comma = text.find(',');
  disk.path = text.substr(0, comma);
  if (disk.path.empty()) return Error("--disk: missing path in '" + text + "'");
  while (comma != std::string::npos) {
    size_t next = text.find(',', comma + 1);
    std::string opt = text.substr(comma + 1, next - comma - 1);
    if (opt == "ro") {
      disk.read_only = true;
    } else if (opt == "snapshot") {
      disk.snapshot = true;
    } else {
      return Error("--disk: unknown option '" + opt + "' in '" + text +
                   "' (known: ro, snapshot)");
    }
    comma = next;
  }
  return disk;
}

Result<ShareConfig> parse_share(const std::string& text) {
  ShareConfig share;
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    size_t comma = text.find(',', start);
    parts.push_back(text.substr(start, comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (parts.size() < 2 || parts[0].empty() || parts[1].empty()) {
    return Error("--9p: expected DIR,TAG[,ro][,at=GUESTPATH], got '" + text + "'");
  }
  share.dir = parts[0];
  share.tag = parts[1];
  if (share.tag == kModuleTreeTag) {
    return Error("--9p: tag '" + share.tag + "' is reserved for the guest kernel's module tree");
  }
  if (share.tag.size() > 31 ||
      share.tag.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                  "0123456789_.-") != std::string::npos) {
    return Error("--9p: tag '" + share.tag +
                 "' must be 1 to 31 letters, digits, '_', '.' or '-'");
  }
  share.guest_path = "/mnt/" + share.tag;
  for (size_t i = 2; i < parts.size(); ++i) {
    const std::string& opt = parts[i];
    if (opt == "ro") {
      share.read_only = true;
    } else if (opt.rfind("at=", 0) == 0) {
      share.guest_path = opt.substr(3);
      const std::string& p = share.guest_path;
      // Compared as the guest resolves it: "//proc/" is /proc, "/." is /.
      std::string normal = std::filesystem::path(p).lexically_normal().string();
      while (normal.size() > 1 && normal.back() == '/') normal.pop_back();
      if (p.size() < 2 || p[0] != '/' || normal == "/" || p.find("/../") != std::string::npos ||
          (p.size() >= 3 && p.compare(p.size() - 3, 3, "/..") == 0)) {
        return Error("--9p: at=" + p + ": the guest path must be absolute, not /, "
                     "without '..'");
      }
      // /run/vmrun holds the module tree; a share on /run would hide it.
      for (const char* reserved : {"/proc", "/sys", "/dev", "/job", "/run/vmrun"}) {
        const std::string r = reserved;
        if (normal == r || normal.rfind(r + "/", 0) == 0 || r.rfind(normal + "/", 0) == 0) {
          return Error("--9p: at=" + p + ": " + r + " belongs to the guest's init");
        }
      }
    } else {
      return Error("--9p: unknown option '" + opt + "' in '" + text + "' (known: ro, at=PATH)");
    }
  }
  std::error_code ec;
  if (!std::filesystem::is_directory(share.dir, ec)) {
    return Error("--9p: '" + share.dir + "' is not a directory");
  }
  if (access(share.dir.c_str(), R_OK | X_OK) != 0 ||
      (!share.read_only && access(share.dir.c_str(), W_OK) != 0)) {
    return Error("--9p: no permission to " + std::string(share.read_only ? "read" : "write") +
                 " '" + share.dir + "'" + (share.read_only ? "" : " (add ,ro to share it read-only)"));
  }
  return share;
}

namespace {

bool parse_ipv4(const std::string& text, bool with_prefix) {
  const size_t slash = text.find('/');
  if (with_prefix != (slash != std::string::npos)) return false;
  const std::string addr = text.substr(0, slash);
  in_addr a;
  if (inet_pton(AF_INET, addr.c_str(), &a) != 1) return false;
  if (!with_prefix) return true;
  const std::string prefix = text.substr(slash + 1);
  return !prefix.empty() && prefix.size() <= 2 &&
         prefix.find_first_not_of("0123456789") == std::string::npos && std::stoi(prefix) <= 32;
}

}  // namespace

Result<NetConfig> parse_network(const std::string& text, size_t index) {
  NetConfig net;
  // Locally administered (02:...), different per device and per vmrun
  // process, so parallel VMs on one bridge do not clash.
  const uint32_t pid = static_cast<uint32_t>(getpid());
  net.mac = {0x02, 0x76, static_cast<uint8_t>(pid >> 16), static_cast<uint8_t>(pid >> 8),
             static_cast<uint8_t>(pid), static_cast<uint8_t>(index)};
  bool mode_tap = false;
  size_t start = 0;
  for (;;) {
    const size_t comma = text.find(',', start);
    const std::string opt = text.substr(start, comma - start);
    const size_t eq = opt.find('=');
    const std::string key = opt.substr(0, eq);
    const std::string val = eq == std::string::npos ? "" : opt.substr(eq + 1);
    auto bad = [&](const std::string& why) {
      return Error("-n: " + opt + ": " + why + " (in '" + text + "')");
    };
    if (key == "mode") {
      if (val != "tap") return bad("only mode=tap is supported");
      mode_tap = true;
    } else if (key == "tapif") {
      if (val.empty() || val.size() > 15 || val.find('/') != std::string::npos) {
        return bad("not an interface name");
      }
      net.tapif = val;
    } else if (key == "vhost") {
      if (val != "0" && val != "1") return bad("use vhost=1 or vhost=0");
      net.vhost = val == "1";
    } else if (key == "mac" || key == "guest_mac") {
      unsigned b[6];
      char tail;
      if (std::sscanf(val.c_str(), "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3],
                      &b[4], &b[5], &tail) != 6 || val.size() != 17) {
        return bad("not a MAC address like 02:00:00:00:00:01");
      }
      for (int i = 0; i < 6; ++i) net.mac[i] = static_cast<uint8_t>(b[i]);
      if (net.mac[0] & 1) return bad("a multicast address cannot be a NIC's");
    } else if (key == "ip" || key == "guest_ip") {
      if (!parse_ipv4(val, true)) return bad("not an IPv4 ADDR/PREFIX like 10.0.0.2/24");
      net.ip = val;
    } else if (key == "gw") {
      if (!parse_ipv4(val, false)) return bad("not an IPv4 address");
      net.gateway = val;
    } else if (key == "dhcp" && eq == std::string::npos) {
      net.dhcp = true;
    } else if (key == "host_ip") {
      if (!parse_ipv4(val, true)) return bad("not an IPv4 ADDR/PREFIX like 10.0.0.1/24");
      net.host_ip = val;
    } else {
      return bad("unknown option (known: mode, tapif, vhost, mac, ip, gw, dhcp, host_ip)");
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (!mode_tap) return Error("-n: '" + text + "' needs mode=tap");
  if (net.dhcp && !net.ip.empty()) return Error("-n: ip= and dhcp exclude each other");
  if (!net.gateway.empty() && net.ip.empty()) return Error("-n: gw= needs ip=");
  if (!net.host_ip.empty() && !net.tapif.empty()) {
    return Error("-n: host_ip= is for the tap vmrun creates; configure tapif=" + net.tapif +
                 " on the host yourself");
  }
  return net;
}

Result<uint64_t> parse_mem_mib(const std::string& text) {
  size_t pos = 0;
  unsigned long long n = 0;
  try {
    if (text.empty() || text[0] == '-') throw std::invalid_argument(text);
    n = std::stoull(text, &pos);
  } catch (const std::exception&) {
    return Error("--mem: '" + text + "' is not a size (try 512 or 2G)");
  }
  std::string suffix = text.substr(pos);
  uint64_t shift = 0;
  if (suffix == "G" || suffix == "g" || suffix == "GiB") {
    shift = 10;
  } else if (!(suffix.empty() || suffix == "M" || suffix == "m" ||
               suffix == "MiB")) {
    return Error("--mem: unknown unit in '" + text + "' (use M or G)");
  }
  if (n > (uint64_t{1} << 40) >> shift) return Error("--mem: '" + text + "' is too large");
  return static_cast<uint64_t>(n) << shift;
}

Result<CliRequest> parse_cli(const std::vector<std::string>& args,
                             const CliDefaults& defaults) {
  // Everything after the first "--" is the job's, untouched by the parser.
  auto dashdash = std::find(args.begin(), args.end(), "--");
  std::vector<std::string> ours(args.begin(), dashdash);
  // Docker's -it (and -ti): one option here. Boost would read it as -i
  // (--initrd) with the argument "t".
  for (auto& a : ours) {
    if (a == "-it" || a == "-ti") a = "--interactive";
  }
  std::vector<std::string> command;
  if (dashdash != args.end()) command.assign(dashdash + 1, args.end());

  auto opts = make_options();
  po::variables_map vm;
  try {
    // One positional argument, the job image; Boost rejects any more
    // instead of silently dropping them.
    po::options_description hidden;
    hidden.add_options()("job", po::value<std::string>());
    po::options_description all;
    all.add(opts).add(hidden);
    po::positional_options_description positional;
    positional.add("job", 1);
    po::store(po::command_line_parser(ours).options(all).positional(positional).run(),
              vm);
    po::notify(vm);
  } catch (const po::too_many_positional_options_error&) {
    return Error("unexpected argument: vmrun takes one job image; put a "
                 "command after --, as in vmrun -- uname -a");
  } catch (const po::error& e) {
    return Error(e.what());
  }
  if (vm.count("help")) {
    std::ostringstream out;
    out << kUsage << "\n" << opts << "\n"
        << "Exit status: the job's; 128+N if a signal N killed it; 123 guest\n"
        << "panic, reset or crash; 124 timeout; 125 vmrun error.\n";
    return CliRequest{InfoRequest{out.str()}};
  }
  if (vm.count("version")) {
    return CliRequest{InfoRequest{"vmrun " VMRUN_VERSION "\n"}};
  }
  auto request = to_request(vm, std::move(command), defaults);
  if (!request) return request.error();
  return CliRequest{std::move(request).value()};
}

}  // namespace vmrun
