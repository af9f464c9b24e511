// Merges an image's layers, in order, into one file tree: whiteouts,
// opaque directories, replacement, hard links (docs/rootfs-images.md).
// Only metadata is kept; tar_writer.h reads the file data again.
#pragma once

#include <cstdint>
#include <vector>

#include "tools/rootfs/archive_util.h"
#include "tools/rootfs/tree.h"
#include "vmm/result.h"

namespace vmrun::rootfs {

// Bounds on what hostile layers can make this process do.
struct Limits {
  uint64_t max_total_bytes = 16ull << 30;  // VMRUN_ROOTFS_MAX_BYTES
  uint64_t max_entry_bytes = 16ull << 30;
  uint64_t max_entries = 10'000'000;
  size_t max_path = 4096;
  size_t max_xattr_bytes = 64 * 1024;  // per entry
};

// Layer N (1-based in errors) is layers[N-1]. Errors are input errors
// ("layer 2: entry '../x' leaves the image").
Result<MergedTree> merge_layers(const std::vector<TarInput>& layers,
                                const Limits& limits);

}  // namespace vmrun::rootfs
