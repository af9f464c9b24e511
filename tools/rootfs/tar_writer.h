// Writes a merged tree as one pax tar stream in the order `mke2fs -d`
// needs: every directory before anything in it, and a hard link after the
// file it names. File data is read again from the layers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tools/rootfs/archive_util.h"
#include "tools/rootfs/tree.h"
#include "vmm/result.h"

namespace vmrun::rootfs {

// Where the tar goes: a file descriptor (mke2fs's stdin), or a string.
struct TarOutput {
  int fd = -1;
  std::string* buffer = nullptr;
};

Result<void> write_flat_tar(const MergedTree& tree,
                            const std::vector<TarInput>& layers, TarOutput out);

// What the ext4 image needs: bytes and inodes, with room to spare.
struct ImageSize {
  uint64_t bytes = 0;
  uint64_t inodes = 0;
};
ImageSize image_size(const MergedTree& tree);

}  // namespace vmrun::rootfs
