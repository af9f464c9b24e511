// The image's OCI config (what `docker run` takes from it) and the
// `config` file vmrun reads beside rootfs.ext4 (docs/rootfs-images.md).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "vmm/result.h"

namespace vmrun::rootfs {

struct OciConfig {
  std::string os, architecture, variant;
  std::vector<std::string> entrypoint, cmd, env;
  std::string workdir, user;
};

Result<OciConfig> parse_oci_config(std::string_view json);

// "IMAGE is an image for linux/arm64; vmrun runs linux/amd64" unless the
// config is for linux/amd64 (a missing field is taken as that).
Result<void> check_platform(const OciConfig& c, const std::string& image);

// Every byte outside [A-Za-z0-9._/:@+=-] as %XX: a value never holds a
// space or a newline, so each line is `KEY VALUE`.
std::string percent_encode(std::string_view value);

// The `config` file: arch, digest, name (when known), then entrypoint,
// cmd, env lines in order, workdir and user when set.
std::string render_config(const OciConfig& c, const std::string& digest,
                          const std::string& name);

}  // namespace vmrun::rootfs
