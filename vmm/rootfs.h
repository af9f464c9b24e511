// --rootfs: the job runs in the user's own userland (an ext4 image, a host
// directory, or an OCI / docker image converted once by vmrun-rootfs into a
// cached ext4 image), with vmrun's kernel and init underneath. Resolving it
// attaches a disk or a share and fills in what the image's config asks for
// (docs/rootfs-images.md, docs/guest-protocol.md).
#pragma once

#include <string>
#include <vector>

#include "vmm/config.h"
#include "vmm/result.h"

namespace vmrun {

// The image config vmrun-rootfs writes beside the image (`config`: lines
// `KEY VALUE`, VALUE percent-encoded).
struct ImageConfig {
  std::string arch;
  std::string name;
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::vector<std::string> env;
  std::string workdir;
  std::string user;
};

Result<ImageConfig> parse_image_config(const std::string& text);

// What a --rootfs PATH is, by looking at it.
enum class RootfsKind { kDirectory, kExt4, kImageArchive };
Result<RootfsKind> rootfs_kind(const std::string& path);

// Resolves config.rootfs.spec: attaches the image (a read-only disk after
// the other disks, or a share for a directory), converts an image archive
// with `converter` (vmrun-rootfs), and sets the job's command, environment,
// working directory and user from the image's config. Before any guest.
Result<void> resolve_rootfs(VmConfig& config, const std::string& converter);

}  // namespace vmrun
