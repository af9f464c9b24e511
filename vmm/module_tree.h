// The guest kernel's module tree, shared with every guest read-only so that
// modprobe, and DKMS modules on a job image, find the in-tree modules and
// depmod data of the kernel that is actually booted.
#pragma once

#include <optional>
#include <string>

#include "vmm/config.h"

namespace vmrun {

// The share of IMAGE_DIR/kernel-root/lib/modules/RELEASE when the image
// step made one (it has modules.dep) and it can be read; nothing otherwise
// (another kernel than the image step's, an older image directory).
std::optional<ShareConfig> module_tree_share(
    const std::string& image_dir, const std::optional<std::string>& release);

}  // namespace vmrun
