// vmrun-rootfs's work: an image input to a cache entry directory.
#pragma once

#include <cstdint>
#include <string>

#include "tools/rootfs/flatten.h"
#include "vmm/result.h"

namespace vmrun::rootfs {

struct ConvertOptions {
  std::string cache_dir;
  std::string image;     // the path
  std::string selector;  // NAME:TAG, or ""
  std::string display;   // the IMAGE argument, for errors
  Limits limits;
  uint64_t cache_max = 20ull << 30;  // VMRUN_ROOTFS_CACHE_MAX
};

// The cache entry directory (CACHE/HEX) holding rootfs.ext4 and config.
Result<std::string> convert(const ConvertOptions& o);

// IMAGE[:NAME:TAG]: the argument itself
// when it exists, else the part before the first ':' that leaves an
// existing path (a path may hold ':').
void split_image_arg(const std::string& arg, std::string& path,
                     std::string& selector);

}  // namespace vmrun::rootfs
