// What one image of an input is: the digest that names its cache entry,
// its config, and its layers in order.
#pragma once

#include <string>
#include <vector>

#include "tools/rootfs/image_config.h"
#include "tools/rootfs/image_source.h"
#include "vmm/result.h"

namespace vmrun::rootfs {

struct ImagePlan {
  std::string digest_hex;  // the manifest's (legacy docker save: the config's)
  std::string name;        // NAME:TAG when the input names it
  OciConfig config;
  std::vector<LayerBlob> layers;
};

// An OCI layout or archive (also Docker 25+'s docker save).
Result<ImagePlan> plan_oci(const ImageSource& src, const std::string& selector);
// A legacy docker save (manifest.json only).
Result<ImagePlan> plan_docker(const ImageSource& src,
                              const std::string& selector);

// Image names as a user writes them: "docker.io/library/busybox:1" and
// "busybox:1" are one name.
std::string short_name(const std::string& name);
bool same_name(const std::string& a, const std::string& b);
std::string join_names(const std::vector<std::string>& names);

}  // namespace vmrun::rootfs
