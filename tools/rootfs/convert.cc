#include "tools/rootfs/convert.h"

#include <fcntl.h>
#include <unistd.h>

#include "tools/rootfs/cache.h"
#include "tools/rootfs/errors.h"
#include "tools/rootfs/image_plan.h"
#include "tools/rootfs/image_source.h"
#include "tools/rootfs/mkfs.h"
#include "tools/rootfs/tar_writer.h"
#include "vmm/unique_fd.h"

namespace vmrun::rootfs {
namespace {

Result<void> write_file(const std::string& path, const std::string& text) {
  UniqueFd fd(
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd.valid()) return Error::from_errno("cannot create " + path);
  if (::write(fd.get(), text.data(), text.size()) !=
      static_cast<ssize_t>(text.size())) {
    return Error::from_errno("cannot write " + path);
  }
  return ok();
}

Result<ImagePlan> plan_image(const ImageSource& src,
                             const std::string& selector) {
  // Docker 25+ writes an OCI layout and a legacy manifest.json: the OCI
  // index is the richer of the two.
  if (src.has("oci-layout") && src.has("index.json"))
    return plan_oci(src, selector);
  if (src.has("manifest.json")) return plan_docker(src, selector);
  return input_error(src.display() +
                     " is neither an OCI image nor a docker save "
                     "archive (no index.json or manifest.json)");
}

// Flattens the layers into build/entry: rootfs.ext4, config, used.
Result<void> build_entry(const ImageSource& src, const ImagePlan& plan,
                         const BuildDir& build, const ConvertOptions& o) {
  const std::string mke2fs = VMRUN_TRY(find_mke2fs(build.path()));
  const auto layers = VMRUN_TRY(
      src.layers(plan.layers, build.path(), o.limits.max_total_bytes));
  const MergedTree tree =
      VMRUN_TRY_CTX(merge_layers(layers, o.limits), o.display);
  VMRUN_TRY(make_ext4(mke2fs, build.entry() + "/rootfs.ext4", image_size(tree),
                      build.path(), [&](int fd) -> Result<void> {
                        auto r = write_flat_tar(tree, layers, {fd, nullptr});
                        if (!r.ok()) return r.error().context(o.display);
                        return ok();
                      }));
  VMRUN_TRY(write_file(
      build.entry() + "/config",
      render_config(plan.config, "sha256:" + plan.digest_hex, plan.name)));
  return write_file(build.entry() + "/used", "");
}

}  // namespace

Result<std::string> convert(const ConvertOptions& o) {
  const Cache cache = VMRUN_TRY(Cache::open(o.cache_dir));
  // The hit path: a few stats and one small read.
  const std::string key = VMRUN_TRY(input_key(o.image, o.selector));
  if (auto hit = cache.find_input(key)) return *hit;

  const ImageSource src = VMRUN_TRY(ImageSource::open(o.image, o.display));
  const ImagePlan plan = VMRUN_TRY(plan_image(src, o.selector));
  if (auto hit = cache.find(plan.digest_hex)) {
    VMRUN_TRY(cache.remember_input(key, plan.digest_hex));
    return *hit;
  }
  const BuildDir build = VMRUN_TRY(cache.begin_build());
  const UniqueFd lock = VMRUN_TRY(cache.lock(plan.digest_hex));
  // Another process may have built it while this one waited.
  std::optional<std::string> entry = cache.find(plan.digest_hex);
  if (!entry) {
    VMRUN_TRY(build_entry(src, plan, build, o));
    entry = VMRUN_TRY(cache.publish(build, plan.digest_hex));
  }
  VMRUN_TRY(cache.remember_input(key, plan.digest_hex));
  cache.evict(o.cache_max, plan.digest_hex);
  return *entry;
}

void split_image_arg(const std::string& arg, std::string& path,
                     std::string& selector) {
  path = arg;
  selector.clear();
  if (access(arg.c_str(), F_OK) == 0) return;
  for (size_t colon = arg.find(':'); colon != std::string::npos;
       colon = arg.find(':', colon + 1)) {
    if (colon > 0 && access(arg.substr(0, colon).c_str(), F_OK) == 0) {
      path = arg.substr(0, colon);
      selector = arg.substr(colon + 1);
      return;
    }
  }
}

}  // namespace vmrun::rootfs
