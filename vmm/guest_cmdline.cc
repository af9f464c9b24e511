#include "vmm/guest_cmdline.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "vmm/x86/layout.h"

namespace vmrun {
namespace {

bool passes_unescaped(unsigned char c) {
  return std::isalnum(c) != 0 || c == '.' || c == '_' || c == '/' ||
         c == ':' || c == '@' || c == '+' || c == '=' || c == '-';
}

}  // namespace

std::string percent_encode(const std::string& text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (passes_unescaped(c)) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

std::string encode_network(const std::array<uint8_t, 6>& mac, const std::string& ip,
                           const std::string& gateway, bool dhcp) {
  char m[18];
  std::snprintf(m, sizeof m, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
                mac[4], mac[5]);
  std::string out = std::string("vmrun.net=") + m;
  if (dhcp) return out + ",dhcp";
  if (!ip.empty()) out += "," + ip;
  if (!gateway.empty()) out += "," + gateway;
  return out;
}

std::string encode_job_command(const std::vector<std::string>& argv) {
  if (argv.empty()) return {};
  std::string out = "vmrun.cmd=";
  for (size_t i = 0; i < argv.size(); ++i) {
    if (i > 0) out += ',';
    out += percent_encode(argv[i]);
  }
  return out;
}

std::vector<std::string> encode_rootfs(const RootfsConfig& rootfs) {
  std::vector<std::string> out;
  if (rootfs.device.empty()) return out;
  out.push_back("vmrun.rootfs=" + percent_encode(rootfs.device));
  if (rootfs.rw) out.push_back("vmrun.rootfs_rw=1");
  if (rootfs.init) out.push_back("vmrun.rootfs_init=1");
  for (const auto& e : rootfs.env) out.push_back("vmrun.env=" + percent_encode(e));
  if (!rootfs.cwd.empty()) out.push_back("vmrun.cwd=" + percent_encode(rootfs.cwd));
  if (!rootfs.user.empty()) out.push_back("vmrun.user=" + percent_encode(rootfs.user));
  return out;
}

std::string encode_share(const std::string& tag, const std::string& guest_path,
                         bool read_only) {
  return "vmrun.9p=" + percent_encode(tag) + "," + percent_encode(guest_path) +
         (read_only ? ",ro" : "");
}

Result<std::string> build_kernel_cmdline(
    const std::string& extra, const std::vector<std::string>& argv,
    const std::vector<std::string>& settings) {
  // An unbalanced quote would swallow the job token into the user's value.
  if (std::count(extra.begin(), extra.end(), '"') % 2 != 0) {
    return Error("--params has an unbalanced double quote");
  }
  std::string cmdline = kBaseKernelParams;
  if (!extra.empty()) cmdline += " " + extra;
  for (const auto& s : settings) cmdline += " " + s;
  std::string job = encode_job_command(argv);
  if (!job.empty()) cmdline += " " + job;
  if (cmdline.size() >= x86::kCmdlineMax) {
    return Error("kernel command line is " + std::to_string(cmdline.size()) +
                 " bytes with the encoded job command; the limit is " +
                 std::to_string(x86::kCmdlineMax - 1) +
                 " (put long commands in a script)");
  }
  return cmdline;
}

}  // namespace vmrun
