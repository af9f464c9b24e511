#include "vmm/module_tree.h"

#include <sys/stat.h>
#include <unistd.h>

#include "vmm/kernel_release.h"

namespace vmrun {

std::optional<ShareConfig> module_tree_share(
    const std::string& image_dir, const std::optional<std::string>& release) {
  // The release becomes a path component: only one that cannot climb out.
  if (!release || !is_kernel_release(*release)) return std::nullopt;
  const std::string dir = image_dir + "/kernel-root/lib/modules/" + *release;
  struct stat st;
  if (stat((dir + "/modules.dep").c_str(), &st) != 0 || !S_ISREG(st.st_mode) ||
      access(dir.c_str(), R_OK | X_OK) != 0) {
    return std::nullopt;
  }
  ShareConfig share;
  share.dir = dir;
  share.tag = kModuleTreeTag;
  share.guest_path = kModuleTreeGuestPath;
  share.read_only = true;
  share.module_tree = true;
  return share;
}

}  // namespace vmrun
