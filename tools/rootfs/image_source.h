// The files of an image input by their names in it: an OCI layout
// directory, or the members of an archive (an OCI archive, a docker save).
// An archive's small JSON members are read into memory in one pass; its
// layers are copied out, once they are known, in a second.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tools/rootfs/archive_util.h"
#include "vmm/result.h"

namespace vmrun::rootfs {

// A layer: the member or blob file `name`, whose bytes must hash to
// `digest_hex` (a blob's digest, or for a legacy docker save its diff_id).
struct LayerBlob {
  std::string name;
  std::string digest_hex;
};

class ImageSource {
 public:
  // `display` names the input in errors (the IMAGE argument).
  static Result<ImageSource> open(const std::string& path,
                                  const std::string& display);

  const std::string& display() const { return display_; }
  bool has(const std::string& name) const;
  // A JSON document, at most 1 MiB.
  Result<std::string> read(const std::string& name) const;
  // blobs/sha256/HEX, checked against HEX.
  Result<std::string> read_blob(const std::string& hex) const;

  // The layers as files to read, each checked against its digest: a
  // directory's blobs where they are, an archive's copied into work_dir.
  Result<std::vector<TarInput>> layers(const std::vector<LayerBlob>& blobs,
                                       const std::string& work_dir,
                                       uint64_t max_bytes) const;

 private:
  Result<void> scan_archive();

  std::string path_, display_;
  bool directory_ = false;
  std::map<std::string, uint64_t> members_;   // archive: regular files
  std::map<std::string, std::string> small_;  // archive: JSON members
};

std::string blob_name(const std::string& hex);
Error digest_mismatch(const std::string& hex);

}  // namespace vmrun::rootfs
