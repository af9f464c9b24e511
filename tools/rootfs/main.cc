// vmrun-rootfs [--cache DIR] IMAGE[:NAME:TAG]
// Converts an OCI or docker image into a cached ext4 image for
// `vmrun --rootfs` and prints the cache entry's directory
// (docs/rootfs-images.md). Exit status: 0, 2 for a bad image or command
// line, 1 for a failure of the host or a tool.
#include <clocale>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "tools/rootfs/convert.h"
#include "tools/rootfs/errors.h"

namespace {

using namespace vmrun::rootfs;

constexpr const char* kUsage =
    "usage: vmrun-rootfs [--cache DIR] IMAGE[:NAME:TAG]\n"
    "Converts an OCI image (layout directory or archive) or a docker save\n"
    "archive into an ext4 image, once, and prints the cache entry directory\n"
    "holding rootfs.ext4 and config.\n";

int fail(int status, const std::string& message) {
  std::fprintf(stderr, "vmrun-rootfs: %s\n", message.c_str());
  return status;
}

// A byte count from the environment: digits with an optional K, M, G or
// T (powers of 1024).
bool env_bytes(const char* name, uint64_t& out) {
  const char* v = std::getenv(name);
  if (!v || !*v) return true;
  char* end = nullptr;
  errno = 0;
  unsigned long long n = std::strtoull(v, &end, 10);
  if (errno || end == v || *v == '-') return false;
  int shift = 0;
  switch (*end) {
    case 'K':
      shift = 10;
      ++end;
      break;
    case 'M':
      shift = 20;
      ++end;
      break;
    case 'G':
      shift = 30;
      ++end;
      break;
    case 'T':
      shift = 40;
      ++end;
      break;
    default:
      break;
  }
  if (*end || (shift && n > (~0ull >> shift))) return false;
  out = n << shift;
  return true;
}

std::string default_cache() {
  if (const char* d = std::getenv("VMRUN_CACHE_DIR"); d && *d)
    return std::string(d) + "/rootfs";
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x)
    return std::string(x) + "/vmrun/rootfs";
  if (const char* h = std::getenv("HOME"); h && *h)
    return std::string(h) + "/.cache/vmrun/rootfs";
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  // Layer names in pax headers are UTF-8; so is what mke2fs reads.
  std::setlocale(LC_CTYPE, "C.UTF-8");
  // mke2fs dying mid-tar must be an error to report, not a signal.
  std::signal(SIGPIPE, SIG_IGN);

  ConvertOptions o;
  std::string arg;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (a == "--cache" && i + 1 < argc) {
      o.cache_dir = argv[++i];
    } else if (a.rfind("--cache=", 0) == 0) {
      o.cache_dir = a.substr(8);
    } else if (a == "--" && i + 1 == argc - 1 && arg.empty()) {
      arg = argv[++i];
    } else if (a.empty() || a[0] == '-' || !arg.empty()) {
      std::fputs(kUsage, stderr);
      return 2;
    } else {
      arg = a;
    }
  }
  if (arg.empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  if (!env_bytes("VMRUN_ROOTFS_MAX_BYTES", o.limits.max_total_bytes)) {
    return fail(2, "VMRUN_ROOTFS_MAX_BYTES is not a byte count");
  }
  o.limits.max_entry_bytes = o.limits.max_total_bytes;
  if (!env_bytes("VMRUN_ROOTFS_CACHE_MAX", o.cache_max)) {
    return fail(2, "VMRUN_ROOTFS_CACHE_MAX is not a byte count");
  }
  if (o.cache_dir.empty()) o.cache_dir = default_cache();
  if (o.cache_dir.empty())
    return fail(
        2, "no cache directory: set HOME or VMRUN_CACHE_DIR, or give --cache");
  split_image_arg(arg, o.image, o.selector);
  o.display = o.image;

  auto r = convert(o);
  if (!r.ok())
    return fail(is_input_error(r.error()) ? 2 : 1, plain_message(r.error()));
  std::printf("%s\n", r->c_str());
  return std::fflush(stdout) == 0 ? 0 : 1;
}
