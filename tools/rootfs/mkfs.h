// The ext4 image, made by e2fsprogs' mke2fs from a tar on its stdin
// (`mke2fs -d -`, e2fsprogs 1.47.1 or newer): mke2fs sets any owner,
// setuid bits and device nodes without root, and nothing is unpacked on
// the host.
#pragma once

#include <functional>
#include <string>

#include "tools/rootfs/tar_writer.h"
#include "vmm/result.h"

namespace vmrun::rootfs {

// $VMRUN_MKE2FS, else mke2fs on PATH, /usr/sbin or /sbin, checked to be
// new enough (its -V output goes to a file in `scratch`).
Result<std::string> find_mke2fs(const std::string& scratch);

// Makes `image` (a new file) of `size`, filling it with the tar that
// `write_tar` writes to the descriptor it is given. `scratch` is a
// directory for mke2fs's messages.
Result<void> make_ext4(const std::string& mke2fs, const std::string& image,
                       const ImageSize& size, const std::string& scratch,
                       const std::function<Result<void>(int fd)>& write_tar);

}  // namespace vmrun::rootfs
