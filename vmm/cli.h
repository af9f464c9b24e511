// vmrun's command line (Boost.Program_options), with kvmtool's spellings
// where kvmtool has the option: -k/--kernel, -i/--initrd, -p/--params,
// -m/--mem, -c/--cpus. Everything after `--` is the job's command.
#pragma once

#include <string>
#include <variant>
#include <vector>

#include "vmm/config.h"
#include "vmm/result.h"

namespace vmrun {

// -it / --interactive, --no-interactive, or neither: interactive when
// stdin and stdout are terminals.
enum class Interactive { kAuto, kOn, kOff };

struct RunRequest {
  VmConfig config;
  Interactive interactive = Interactive::kAuto;
  std::string log_level;
  std::string log_file;     // --log: the console, also written here
  std::string result_json;  // --result-json: the run's summary, written here
};

// --help or --version: print this text and exit 0.
struct InfoRequest {
  std::string text;
};

using CliRequest = std::variant<RunRequest, InfoRequest>;

struct CliDefaults {
  std::string image_dir;  // where the image step put vmlinux and initramfs
  uint64_t host_mem_mib;  // the most -m may ask for
};

Result<CliRequest> parse_cli(const std::vector<std::string>& args,
                             const CliDefaults& defaults);

// Parses a --disk value: PATH[,ro][,snapshot].
Result<DiskConfig> parse_disk(const std::string& text);

// Parses "512", "512M", "2G" into MiB.
Result<uint64_t> parse_mem_mib(const std::string& text);

// --9p DIR,TAG[,ro][,at=GUESTPATH]; checks the directory exists and is
// accessible as asked.
Result<ShareConfig> parse_share(const std::string& text);

// -n mode=tap[,tapif=NAME][,vhost=1][,mac=MAC][,ip=A/N][,gw=A][,dhcp][,host_ip=A/N];
// `index` picks the default MAC.
Result<NetConfig> parse_network(const std::string& text, size_t index);

}  // namespace vmrun
